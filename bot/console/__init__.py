"""The staff console: server-rendered pages (Jinja2), a little vanilla JS, inline SVG charts."""
