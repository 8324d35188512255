"""Password hashing, secret hashing, and (later) CSRF and signed cookies."""
