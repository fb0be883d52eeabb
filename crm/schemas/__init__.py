"""marshmallow schemas: the only way request data reaches the domain (no **request.json into models)."""
