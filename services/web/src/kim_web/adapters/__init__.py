"""The four services' public HTTP APIs, one module per service; every path the web app calls is written here."""
