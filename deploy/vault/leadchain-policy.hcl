# Policy for the leadchain application token (web and the workers; see docker-compose.yml).
# Write it with:  bao policy write leadchain /openbao/policies/leadchain-policy.hcl
#
# The app reads KV v2 groups at secret/leadchain/<group> (crm/secrets.py: mount "secret", prefix
# "leadchain"); on a KV v2 mount that is the API path secret/data/leadchain/<group>. Read only:
# no list, no metadata, nothing outside its prefix. Writing and rotating secrets is an operator
# task with an operator token.
path "secret/data/leadchain/*" {
  capabilities = ["read"]
}
