"""fairtrack developer and operator tooling: the local stack, local invoke and the CLI.

Nothing here is shipped in the Lambda layer; the runtime package ``fairtrack`` never imports it.
"""
