# OpenBao server configuration for docker-compose.yml (service `vault`). Server mode, not dev mode:
# data persists in the `vault-data` volume; the static seal below unseals it on every start. See the
# comment at the `vault` service for init and the app policy (leadchain-policy.hcl), and README.md
# here for the unseal key.

# Single-node file storage. OpenBao deprecates this backend in 2.6 and removes it in 2.7; before
# upgrading past 2.5 migrate to integrated storage with `bao operator migrate`, e.g. to:
#   storage "raft" { path = "/openbao/raft"  node_id = "leadchain-vault-1" }   (in a new volume)
#   cluster_addr = "http://vault:8201"
storage "file" {
  path = "/openbao/file"
}

# Reachable only on the compose network and on the host's loopback (see the `ports` of `vault`).
# If Vault is ever reached across hosts, terminate TLS here: tls_cert_file / tls_key_file.
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}

# Auto-unseal: the root key is wrapped with this 32-byte AES-256-GCM key, read from the docker secret
# `vault_unseal_key` (deploy/secrets/vault_unseal_key on the host) at every start, so a reboot does not
# leave OpenBao sealed. Whoever holds this file and the `vault-data` volume can read every secret: keep
# the file on other storage than the volume and out of its backups (README.md). To rotate, move the
# current key to previous_key_id/previous_key and put a new one here.
seal "static" {
  current_key_id = "leadchain-1"
  current_key    = "file:///run/secrets/vault_unseal_key"
}

api_addr = "http://vault:8200"

# The image's entrypoint drops to the unprivileged `openbao` user without granting IPC_LOCK to the
# binary, so mlock cannot work; keep swap off (or encrypted) on the host instead.
disable_mlock = true

ui = false
log_level = "info"
