# OpenBao server configuration for docker-compose.yml (service `vault`). Server mode, not dev mode:
# data persists in the `vault-data` volume and the server starts sealed; see the comment at the
# `vault` service for init/unseal and for writing the app policy (leadchain-policy.hcl).

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

api_addr = "http://vault:8200"

# The image's entrypoint drops to the unprivileged `openbao` user without granting IPC_LOCK to the
# binary, so mlock cannot work; keep swap off (or encrypted) on the host instead.
disable_mlock = true

ui = false
log_level = "info"
