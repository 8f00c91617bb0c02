"""One module per modem model (dialect); each registers itself by name with `modem.driver.dialect`.

Callers never import these modules: `open_modem(loop, "sim800:/dev/serial0")` or
`modem.driver.dialect.get_dialect("sim800")` finds them. docs/modem-seam.md says what a dialect provides.
"""
