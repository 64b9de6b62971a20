"""Built-in recipes (YAML files in this folder): `radprep recipes` lists them."""
