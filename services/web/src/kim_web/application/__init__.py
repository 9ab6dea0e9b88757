"""What the pages need besides the services: who is signed in, German labels and formats, form handling."""
