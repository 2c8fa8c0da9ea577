echo "load: not yet"
