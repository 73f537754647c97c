/* The server's own configuration keys: [c2s] (client connections and
 * streams), [tls] and [auth]. Modules declare theirs in their module
 * definitions (vn_module_t.config_keys). */
#include <stddef.h>

#include "xmpp/module.h"

const vn_cfg_key_t vn_server_config_keys[] = {
    {"c2s", "listen", VN_CFG_STR, offsetof(vn_config_t, listen), "127.0.0.1:5222",
     .help = "STARTTLS port (RFC 6120 §5). Each listening key takes one or more comma-separated "
             "addresses, IPv6 in brackets: 127.0.0.1:5222, [::1]:5222"},
    {"c2s", "direct_tls", VN_CFG_STR, offsetof(vn_config_t, direct_tls), "127.0.0.1:5223",
     .help = "Direct TLS port (XEP-0368); leave empty to disable."},
    {"c2s", "max_stanza_size", VN_CFG_SIZE, offsetof(vn_config_t, max_stanza_size), "262144",
     .min = 1024, .max = 64LL << 20,
     .help = "Largest stanza accepted, in bytes; larger gets <policy-violation/>."},
    {"c2s", "max_stanza_size_preauth", VN_CFG_SIZE, offsetof(vn_config_t, max_stanza_size_preauth),
     "8192", .min = 1024, .max = 64LL << 20,
     .help = "The same before authentication (until SASL succeeds): nothing a client sends before "
             "then (stream header, STARTTLS, SASL with SCRAM and channel binding) needs more than "
             "a few hundred bytes, so an unauthenticated connection holds at most this much "
             "unfinished stanza. Larger gets <policy-violation/>. Never above max_stanza_size."},
    {"c2s", "max_depth", VN_CFG_INT, offsetof(vn_config_t, max_depth), "32", .min = 4, .max = 1000,
     .help = "Deepest element nesting inside a stanza."},
    {"c2s", "max_attributes", VN_CFG_INT, offsetof(vn_config_t, max_attributes), "32", .min = 4,
     .max = 1000, .help = "Most attributes on one element."},
    {"c2s", "auth_timeout", VN_CFG_INT, offsetof(vn_config_t, auth_timeout), "60", .min = 1,
     .max = 3600, .help = "Seconds a connection may take to authenticate and bind."},
    {"c2s", "idle_timeout", VN_CFG_INT, offsetof(vn_config_t, idle_timeout), "0", .min = 0,
     .max = 86400 * 7,
     .help = "Seconds without any traffic before an authenticated session is closed (0 = never; "
             "clients keep alive with whitespace or XEP-0199 pings)."},
    {"c2s", "max_offline", VN_CFG_INT, offsetof(vn_config_t, max_offline), "1000", .min = 0,
     .max = 1000000,
     .help = "Most queued offline messages per account (beyond: service-unavailable)."},
    {"c2s", "resume_timeout", VN_CFG_INT, offsetof(vn_config_t, resume_timeout), "300", .min = 0,
     .max = 86400,
     .help = "Seconds a session whose connection was lost waits to be resumed (XEP-0198); its "
             "unacknowledged messages then go to offline storage."},
    {"c2s", "max_unacked", VN_CFG_INT, offsetof(vn_config_t, max_unacked), "10000", .min = 16,
     .max = 1000000,
     .help = "Unacknowledged stanzas (XEP-0198) kept per session, by count and by bytes. The "
             "stanza that goes past either is still kept; the stream then ends with "
             "<resource-constraint/> and the kept messages go to offline storage."},
    {"c2s", "max_unacked_bytes", VN_CFG_SIZE, offsetof(vn_config_t, max_unacked_bytes), "4194304",
     .min = 65536, .max = 1LL << 32,
     .help = "Unacknowledged stanzas (XEP-0198) kept per session, by count and by bytes. The "
             "stanza that goes past either is still kept; the stream then ends with "
             "<resource-constraint/> and the kept messages go to offline storage."},
    {"c2s", "max_output", VN_CFG_SIZE, offsetof(vn_config_t, max_output), "1048576", .min = 16384,
     .max = 1LL << 32,
     .help = "Unsent output per session, in bytes. A client is not read while its output is above "
             "a quarter of this; output above it for output_timeout seconds, or above 16 times it "
             "at once, ends the connection (<resource-constraint/>; with stream management the "
             "session waits for resumption)."},
    {"c2s", "max_output_preauth", VN_CFG_SIZE, offsetof(vn_config_t, max_output_preauth), "16384",
     .min = 4096, .max = 1LL << 24,
     .help = "The same before authentication (nothing there needs more)."},
    {"c2s", "output_timeout", VN_CFG_INT, offsetof(vn_config_t, output_timeout), "30", .min = 1,
     .max = 3600, .help = "The same before authentication (nothing there needs more)."},
    {"c2s", "rate", VN_CFG_U32, offsetof(vn_config_t, rate), "131072", .min = 0, .max = 1LL << 30,
     .help = "Input shaping per session: bytes per second (0: off) and the burst a client may send "
             "at once; reading pauses while a client is over it."},
    {"c2s", "burst", VN_CFG_U32, offsetof(vn_config_t, burst), "524288", .min = 1024,
     .max = 1LL << 30,
     .help = "Input shaping per session: bytes per second (0: off) and the burst a client may send "
             "at once; reading pauses while a client is over it."},
    {"c2s", "max_connections_per_address", VN_CFG_INT,
     offsetof(vn_config_t, max_connections_per_address), "1000", .min = 0, .max = 10000000,
     .help = "Connections one peer address may hold at once (0 = no limit); one more gets "
             "<policy-violation/> and is closed. Many users can share an address (an office or a "
             "mobile carrier's NAT): keep it well above the number of devices behind your largest "
             "NAT."},
    {"tls", "cert", VN_CFG_STR, offsetof(vn_config_t, cert), "",
     .help = "PEM certificate chain and key. When both are empty, vestnikd generates a self-signed "
             "certificate for the first domain in data_dir on first start."},
    {"tls", "key", VN_CFG_STR, offsetof(vn_config_t, key), "",
     .help = "PEM certificate chain and key. When both are empty, vestnikd generates a self-signed "
             "certificate for the first domain in data_dir on first start."},
    {"tls", "ciphers", VN_CFG_STR, offsetof(vn_config_t, tls_ciphers), VN_TLS_DEFAULT_CIPHERS,
     .min = 1,
     .help = "TLS 1.2 cipher list (OpenSSL syntax), in the server's order of preference. The "
             "default offers forward-secret AEAD suites only: ECDHE with AES-GCM or "
             "ChaCha20-Poly1305; no CBC (LUCKY13), no static-RSA or finite-field DHE key exchange "
             "(RFC 10015). Suites the certificate cannot sign (ECDSA or RSA) are skipped. A list "
             "that selects nothing stops the server at start."},
    {"tls", "ciphersuites", VN_CFG_STR, offsetof(vn_config_t, tls_ciphersuites),
     VN_TLS_DEFAULT_CIPHERSUITES, .min = 1,
     .help = "TLS 1.3 suites (all AEAD), in the server's order of preference."},
    {"tls", "min_version", VN_CFG_CHOICE, offsetof(vn_config_t, tls_min_version), "1.2",
     .choices = "1.2=12,TLSv1.2=12,1.3=13,TLSv1.3=13",
     .help = "Lowest protocol version accepted: 1.2 or 1.3."},
    {"auth", "allow_plain", VN_CFG_BOOL, offsetof(vn_config_t, allow_plain), "false",
     .help = "SASL PLAIN (only ever offered inside TLS)."},
    {"auth", "strict_channel_binding", VN_CFG_BOOL, offsetof(vn_config_t, strict_channel_binding),
     "false",
     .help = "Refuse SCRAM with the gs2 flag 'y' while -PLUS is offered (RFC 5802 §6 downgrade "
             "detection). Off by default because clients that support only tls-unique (slixmpp) "
             "then cannot sign in; turn it on when every client speaks tls-exporter or "
             "tls-server-end-point."},
    {"auth", "scram_iterations", VN_CFG_U32, offsetof(vn_config_t, scram_iterations), "4096",
     .min = 1024, .max = 10000000, .help = "PBKDF2 iterations for new and changed passwords."},
    {"auth", "max_failures", VN_CFG_INT, offsetof(vn_config_t, max_failures), "5", .min = 1,
     .max = 1000000,
     .help = "Sign-in throttling (README \"Sign-in throttling\"). Three tiers, each a bucket of "
             "max_failures failures of which one is forgiven every window / max_failures seconds; "
             "a failure that fills it locks the key for the tier's lockout, doubling with each "
             "further lockout, at most max_lockout. A locked attempt gets "
             "<temporary-auth-failure/> whatever the password.  (address, account): failures of "
             "one account from one client address (IPv6: one /64) before that pair is locked."},
    {"auth", "lockout", VN_CFG_INT, offsetof(vn_config_t, lockout), "10", .min = 1, .max = 86400,
     .help = "Seconds of the first (address, account) lockout."},
    {"auth", "failure_window", VN_CFG_INT, offsetof(vn_config_t, failure_window), "900", .min = 1,
     .max = 30 * 86400, .help = "Seconds for the (address, account) bucket to drain."},
    {"auth", "address_max_failures", VN_CFG_INT, offsetof(vn_config_t, address_max_failures), "30",
     .min = 1, .max = 1000000,
     .help = "One address, any accounts: failures before the address is locked."},
    {"auth", "address_lockout", VN_CFG_INT, offsetof(vn_config_t, address_lockout), "60", .min = 1,
     .max = 86400, .help = "One address, any accounts: failures before the address is locked."},
    {"auth", "address_window", VN_CFG_INT, offsetof(vn_config_t, address_window), "900", .min = 1,
     .max = 30 * 86400,
     .help = "One address, any accounts: failures before the address is locked."},
    {"auth", "account_max_failures", VN_CFG_INT, offsetof(vn_config_t, account_max_failures), "100",
     .min = 1, .max = 1000000,
     .help = "One account, any addresses: a campaign spread over many addresses. Known devices (an "
             "address the account signed in from successfully within known_address_age) are let "
             "through even while this tier is locked."},
    {"auth", "account_lockout", VN_CFG_INT, offsetof(vn_config_t, account_lockout), "60", .min = 1,
     .max = 86400,
     .help = "One account, any addresses: a campaign spread over many addresses. Known devices (an "
             "address the account signed in from successfully within known_address_age) are let "
             "through even while this tier is locked."},
    {"auth", "account_window", VN_CFG_INT, offsetof(vn_config_t, account_window), "3600", .min = 1,
     .max = 30 * 86400,
     .help = "One account, any addresses: a campaign spread over many addresses. Known devices (an "
             "address the account signed in from successfully within known_address_age) are let "
             "through even while this tier is locked."},
    {"auth", "max_lockout", VN_CFG_INT, offsetof(vn_config_t, max_lockout), "3600", .min = 1,
     .max = 86400, .help = "Longest lockout of any tier, seconds."},
    {"auth", "throttle_max_entries", VN_CFG_SIZE, offsetof(vn_config_t, throttle_max_entries),
     "100000", .min = 100, .max = 100000000,
     .help = "Failure keys kept in memory, all tiers together (about 300 bytes each); when full, "
             "the key that would be forgotten soonest makes room."},
    {"auth", "known_addresses", VN_CFG_INT, offsetof(vn_config_t, known_addresses), "4", .min = 0,
     .max = 64, .help = "Successful addresses remembered per account (0: none, no exemption)."},
    {"auth", "known_address_age", VN_CFG_INT, offsetof(vn_config_t, known_address_age), "1209600",
     .min = 1, .max = 365 * 86400,
     .help = "Seconds an address stays known after the last successful sign-in (14 days)."},
    {"auth", "known_max_accounts", VN_CFG_SIZE, offsetof(vn_config_t, known_max_accounts), "100000",
     .min = 100, .max = 100000000,
     .help = "Accounts whose known addresses are remembered; when full, the account that signed in "
             "least recently is forgotten (about 300 bytes each)."},
    {NULL},
};
