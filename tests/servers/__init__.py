"""Private backend servers the tests start and own: loopback, free ports, temp dirs."""
