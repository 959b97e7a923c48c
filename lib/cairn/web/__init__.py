"""`cairn ui`: a local web panel over the project's database (Starlette, Jinja2, uvicorn;
the CLI's side only: no hook imports this package). `app` is the ASGI application and
its guard, `views` what a card and an action are, `charts` the history page's SVG."""
