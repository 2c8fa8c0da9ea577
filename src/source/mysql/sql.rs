//! Writing SQL text: identifiers, string escapes, and values of every column type, so
//! that a dump restored into a fresh server gives identical rows. Binary data is hex;
//! FLOAT and DOUBLE come from the binary protocol and are written in their shortest
//! exact form; dates, times and TIMESTAMPs (the session is in UTC) keep their digits.

use mysql::consts::ColumnType as T;
use mysql::{Column, Value};

/// `` `name` `` with backquotes doubled.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The escape of each byte in a quoted string (0: the byte stands for itself).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[0] = b'0';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\\' as usize] = b'\\';
    t[b'\'' as usize] = b'\'';
    t[b'"' as usize] = b'"';
    t[0x1a] = b'Z';
    t
};

/// `'text'` with NUL, newline, CR, backslash, both quotes and ^Z escaped. Runs of
/// plain bytes are copied whole: most strings have nothing to escape.
pub fn quote(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'\'');
    let mut rest = s;
    while let Some(i) = rest.iter().position(|&b| ESCAPE[b as usize] != 0) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(&[b'\\', ESCAPE[rest[i] as usize]]);
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'\'');
}

pub fn quote_str(s: &str) -> String {
    let mut v = Vec::new();
    quote(&mut v, s.as_bytes());
    String::from_utf8(v).expect("escaping keeps UTF-8")
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fmt {
    Hex,
    Unquoted,
    Text,
    Date,
    DateTime(u8),
    Time(u8),
}

/// How one result column is written, decided once from its metadata.
#[derive(Debug, Clone, Copy)]
pub struct ColumnFormat(Fmt);

const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

impl ColumnFormat {
    pub fn of(c: &Column) -> Self {
        let binary_charset = c.character_set() == 63;
        let decimals = c.decimals().min(6);
        ColumnFormat(match c.column_type() {
            T::MYSQL_TYPE_DECIMAL | T::MYSQL_TYPE_NEWDECIMAL => Fmt::Unquoted,
            T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE => Fmt::Date,
            T::MYSQL_TYPE_DATETIME
            | T::MYSQL_TYPE_DATETIME2
            | T::MYSQL_TYPE_TIMESTAMP
            | T::MYSQL_TYPE_TIMESTAMP2 => Fmt::DateTime(decimals),
            T::MYSQL_TYPE_TIME | T::MYSQL_TYPE_TIME2 => Fmt::Time(decimals),
            // MySQL's JSON reports the binary charset but takes only text.
            T::MYSQL_TYPE_JSON => Fmt::Text,
            T::MYSQL_TYPE_BIT | T::MYSQL_TYPE_GEOMETRY => Fmt::Hex,
            T::MYSQL_TYPE_STRING
            | T::MYSQL_TYPE_VAR_STRING
            | T::MYSQL_TYPE_VARCHAR
            | T::MYSQL_TYPE_TINY_BLOB
            | T::MYSQL_TYPE_MEDIUM_BLOB
            | T::MYSQL_TYPE_LONG_BLOB
            | T::MYSQL_TYPE_BLOB
                if binary_charset =>
            {
                Fmt::Hex
            }
            _ => Fmt::Text,
        })
    }

    /// The formats of every column of a result.
    pub fn all(columns: &[Column]) -> Vec<ColumnFormat> {
        columns.iter().map(ColumnFormat::of).collect()
    }

    pub fn write(&self, out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::NULL => out.extend_from_slice(b"NULL"),
            Value::Bytes(b) => match self.0 {
                Fmt::Hex if b.is_empty() => out.extend_from_slice(b"''"),
                Fmt::Hex => {
                    out.extend_from_slice(b"0x");
                    hex(out, b);
                }
                Fmt::Unquoted => out.extend_from_slice(b),
                _ => quote(out, b),
            },
            Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Value::UInt(u) => out.extend_from_slice(itoa::Buffer::new().format(*u).as_bytes()),
            // The shortest text that reads back to the same value (ryu).
            Value::Float(f) => float(out, *f as f64, ryu::Buffer::new().format(*f)),
            Value::Double(d) => float(out, *d, ryu::Buffer::new().format(*d)),
            Value::Date(y, mo, d, h, mi, s, us) => {
                out.push(b'\'');
                three(out, [*y as u32, *mo as u32, *d as u32], [4, 2, 2], b'-');
                let time = match self.0 {
                    Fmt::DateTime(dec) | Fmt::Time(dec) => Some(dec),
                    Fmt::Date => None,
                    _ => ((*h, *mi, *s, *us) != (0, 0, 0, 0)).then_some(6),
                };
                if let Some(dec) = time {
                    out.push(b' ');
                    three(out, [*h as u32, *mi as u32, *s as u32], [2, 2, 2], b':');
                    fraction(out, *us, dec);
                }
                out.push(b'\'');
            }
            Value::Time(neg, days, h, mi, s, us) => {
                out.push(b'\'');
                if *neg {
                    out.push(b'-');
                }
                three(
                    out,
                    [*days * 24 + *h as u32, *mi as u32, *s as u32],
                    [2, 2, 2],
                    b':',
                );
                fraction(out, *us, if let Fmt::Time(d) = self.0 { d } else { 6 });
                out.push(b'\'');
            }
        }
    }
}

/// Appends one row as `(v1,v2,...)`.
pub fn write_row(out: &mut Vec<u8>, formats: &[ColumnFormat], row: &mysql::Row) {
    out.push(b'(');
    for (i, f) in formats.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        f.write(out, row.as_ref(i).unwrap_or(&Value::NULL));
    }
    out.push(b')');
}

/// Appends `v` zero-padded to `width` digits (dates and times: small numbers).
fn digits(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut at = buf.len();
    let mut v = v;
    while v > 0 {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = at.min(buf.len() - width.min(buf.len()));
    out.extend_from_slice(&buf[start..]);
}

/// Appends `b` as upper-case hex digits, two per byte.
fn hex(out: &mut Vec<u8>, b: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * b.len(), 0);
    for (o, &x) in out[start..].chunks_exact_mut(2).zip(b) {
        o[0] = HEX_DIGITS[(x >> 4) as usize];
        o[1] = HEX_DIGITS[(x & 15) as usize];
    }
}

/// Writes a float; NaN and infinities (which MySQL cannot store) become NULL.
fn float(out: &mut Vec<u8>, v: f64, text: &str) {
    if v.is_finite() {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.extend_from_slice(b"NULL");
    }
}

/// Appends three zero-padded numbers joined by `sep` (a date or a time of day).
fn three(out: &mut Vec<u8>, v: [u32; 3], width: [usize; 3], sep: u8) {
    for (i, (v, w)) in v.into_iter().zip(width).enumerate() {
        if i > 0 {
            out.push(sep);
        }
        digits(out, v, w);
    }
}

/// Appends `.ffffff` cut to `dec` digits (nothing when `dec` is 0 and `us` is 0).
fn fraction(out: &mut Vec<u8>, us: u32, dec: u8) {
    let dec = if dec == 0 && us != 0 { 6 } else { dec as u32 };
    if dec == 0 {
        return;
    }
    out.push(b'.');
    digits(out, us / 10u32.pow(6 - dec), dec as usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_every_special_byte() {
        let mut v = Vec::new();
        quote(&mut v, b"");
        quote(&mut v, b"plain");
        assert_eq!(v, b"'''plain'");
        v.clear();
        quote(&mut v, b"a\0b\nc\rd\\e'f\"g\x1ah");
        assert_eq!(v, b"'a\\0b\\nc\\rd\\\\e\\'f\\\"g\\Zh'");
        assert_eq!(ident("we`ird"), "`we``ird`");
        let mut h = Vec::new();
        hex(&mut h, &[0x00, 0xab, 0x7f]);
        assert_eq!(h, b"00AB7F");
    }

    #[test]
    fn dates_and_times_keep_their_digits() {
        let w = |f: Fmt, v: Value| {
            let mut out = Vec::new();
            ColumnFormat(f).write(&mut out, &v);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            w(Fmt::Date, Value::Date(0, 0, 0, 0, 0, 0, 0)),
            "'0000-00-00'"
        );
        assert_eq!(
            w(Fmt::DateTime(0), Value::Date(2038, 1, 19, 3, 14, 7, 0)),
            "'2038-01-19 03:14:07'"
        );
        assert_eq!(
            w(
                Fmt::DateTime(3),
                Value::Date(2020, 2, 29, 12, 34, 56, 789_000)
            ),
            "'2020-02-29 12:34:56.789'"
        );
        assert_eq!(
            w(Fmt::DateTime(6), Value::Date(1970, 1, 1, 0, 0, 0, 1)),
            "'1970-01-01 00:00:00.000001'"
        );
        assert_eq!(
            w(Fmt::Time(0), Value::Time(true, 34, 22, 59, 59, 0)),
            "'-838:59:59'"
        );
        assert_eq!(
            w(Fmt::Time(6), Value::Time(false, 0, 12, 34, 56, 1)),
            "'12:34:56.000001'"
        );
        assert_eq!(
            w(Fmt::Time(0), Value::Time(true, 0, 0, 0, 1, 0)),
            "'-00:00:01'"
        );
    }

    #[test]
    fn floats_are_written_in_shortest_round_trip_form() {
        for f in [
            0.1f32,
            1.0 / 3.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            -2.5e-38,
            16777216.0,
        ] {
            let s = ryu::Buffer::new().format(f).to_string();
            assert_eq!(s.parse::<f32>().unwrap(), f, "{s}");
            // The server reads it as a double and rounds to float.
            assert_eq!(s.parse::<f64>().unwrap() as f32, f, "{s}");
        }
        for d in [0.1f64, 1.0 / 3.0, f64::MAX, 5e-324, 1e22] {
            assert_eq!(ryu::Buffer::new().format(d).parse::<f64>().unwrap(), d);
        }
    }
}
