"""Search spaces. Each is one module here plus one conf/space/<name>.yaml."""
