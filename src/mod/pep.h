/* PEP (XEP-0163) for other modules: publish to, read from and observe the
 * personal eventing nodes of local accounts, e.g. XEP-0398 avatar
 * conversion (vcard-temp <-> urn:xmpp:avatar:*) and XEP-0048 bookmarks
 * over private XML storage (XEP-0049) <-> urn:xmpp:bookmarks:1 (XEP-0402).
 *
 * Threading: call from the loop thread only; every callback runs later on
 * the loop thread (never inside the call). Strings passed in are copied;
 * strings handed to callbacks are valid only during the callback.
 *
 * Addresses: owner is the account's normalised bare JID ("user@domain").
 * node and item ids are compared byte for byte.
 *
 * Payloads: the serialised XML of the single payload element, with its
 * xmlns declared, e.g. "<storage xmlns='storage:bookmarks'>...</storage>".
 * A payload that is not one well-formed element, or is bigger than
 * [pubsub] max_payload, fails with rc -1. */
#ifndef VN_MOD_PEP_H
#define VN_MOD_PEP_H

#include <stddef.h>

#include "xmpp/server.h"

/* Publishes item_id (NULL: a server-generated id) with payload to the PEP
 * node of owner, creating the node when missing with the given options
 * (NULL-terminated key/value pairs of pubsub#node_config fields, e.g.
 * {"pubsub#access_model", "whitelist", "pubsub#max_items", "max", NULL};
 * may be NULL for the defaults: presence access, one item). When the node
 * exists its configuration is left as it is (options are not a
 * precondition here). Notifications go out as for a client's publish
 * (owner's resources and contacts with +notify); vn_pep_observe()
 * observers are NOT called (only clients' changes reach them, so a module
 * that mirrors a node cannot loop). done (may be NULL) gets rc 0 ok, -1
 * error. */
void vn_pep_publish(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                    const char *payload, size_t len, const char *const *options,
                    void (*done)(void *ud, int rc), void *ud);

/* Fetches item_id (NULL: the newest item) of owner's node; cb gets the
 * payload XML, or NULL/0 when there is no such node or item (or on error). */
void vn_pep_get_item(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                     void (*cb)(void *ud, const char *payload, size_t len), void *ud);

/* Fetches all items of owner's node, oldest first (n = 0 when the node is
 * missing or on error). ids[i] and payloads[i] belong together. */
void vn_pep_get_items(vn_server_t *srv, const char *owner, const char *node,
                      void (*cb)(void *ud, int n, const char *const *ids,
                                 const char *const *payloads),
                      void *ud);

/* Retracts item_id of owner's node, notifying as for a client's retract
 * (observers are not called). rc 0 ok (also when the item did not exist),
 * -1 error. */
void vn_pep_retract(vn_server_t *srv, const char *owner, const char *node, const char *item_id,
                    void (*done)(void *ud, int rc), void *ud);

/* Registers an observer of publishes and retracts by clients (pubsub IQs
 * to their own account) on a node name, for any owner. Called on the loop
 * thread after the change committed; payload is NULL (len 0) for a
 * retract. Node deletion by a client is reported as a retract with
 * item_id NULL. Call from a module's init(); up to 16 observers. */
void vn_pep_observe(const char *node,
                    void (*on_change)(vn_server_t *srv, const char *owner, const char *node,
                                      const char *item_id, const char *payload, size_t len,
                                      int retracted));

/* For src/mod/disco.c: answers disco#items to an account's bare JID with
 * its PEP nodes (all of them to the owner, the accessible ones to others;
 * XEP-0060 §5.2, XEP-0163 §6). st is borrowed; returns VN_HANDLED. */
#include "xmpp/module.h"
vn_result_t vn_pep_disco_items(vn_server_t *srv, vn_stanza_t *st);

#endif
