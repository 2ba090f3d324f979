"""The HTTP and websocket edge: Starlette routes, pages, the API and the socket."""
