"""The pages (FastAPI routers rendering Jinja2 templates) and the app that serves them."""
