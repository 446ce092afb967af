"""The admin dashboard at ``/admin``: one live page of the hub's state, fed by server-sent events."""
