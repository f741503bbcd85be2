"""A small Flask app with its own users and Flask-Login views, as it was before realtime.

Only the lines between ``# realtime: begin`` and ``# realtime: end`` in
:mod:`tests.dropin_app.app` were added to give it authenticated sockets; the
README's "Add to your app" section shows exactly those lines (a test keeps
them in step).
"""
