"""Many companies on one installation (docs/tenancy.md).

`context` holds whose data the current unit of work may touch; `orm` makes every ORM statement obey it;
`rls` is the PostgreSQL second wall. Nothing here trusts a company id that came from a client: the code
that enters a scope takes the id from a record it already verified (a login, an API key, a signed
webhook's routing, a workflow's header)."""
