//! Tells systemd how a long-running command is doing (`sd_notify`): `READY=1` once a
//! mount serves, so that a unit of `Type=notify` starts what needs the tree only then.
//! Without `NOTIFY_SOCKET` (not run by systemd) it does nothing.

/// Sends `state` (`READY=1`, `STOPPING=1`, ...) to the socket systemd named, if any;
/// a failure is only logged: the command goes on either way.
pub fn systemd(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> std::io::Result<()> {
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = sent {
        tracing::warn!(
            "cannot tell systemd {state:?} through NOTIFY_SOCKET: {}",
            crate::error::describe(&e)
        );
    }
}
