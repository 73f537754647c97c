/* XEP-0313 query handling shared by every archive the server keeps: user
 * archives (mod/mam.c) and room archives (mod/muc/archive.c).
 *
 * Threading: loop thread, except that the store query function runs on the
 * storage thread. */
#ifndef VN_MOD_MAM_QUERY_H
#define VN_MOD_MAM_QUERY_H

#include <stdint.h>

#include "xmpp/module.h"

#define VN_NS_MAM "urn:xmpp:mam:2"
#define VN_NS_SID "urn:xmpp:sid:0"
#define VN_MAM_ID_LEN 22 /* 16 random bytes in base64url */

/* UTC microseconds now. */
int64_t vn_mam_now_us(void);
/* A XEP-0359 stanza id: 128 random bits, base64url. */
void vn_mam_new_id(char out[VN_MAM_ID_LEN + 1]);
/* XEP-0082 DateTime -> UTC microseconds. 0, or -1 when malformed. */
int vn_mam_parse_datetime(const char *s, int64_t *out);
/* UTC microseconds -> XEP-0082 DateTime with microseconds. */
void vn_mam_format_stamp(int64_t us, char *out, size_t n);
/* A copy of an IQ request for answering later; 'to' filled in with the
 * account itself when the client left it out. */
vn_stanza_t *vn_mam_request_copy(const vn_stanza_t *st);

/* The storage call that reads one page of an archive (same contract as
 * vn_store_archive_query; runs on the storage thread). */
typedef int (*vn_mam_store_query_fn)(vn_store_t *st, const char *owner, const vn_archive_query_t *q,
                                     void (*cb)(const vn_archive_item_t *it, void *ud), void *ud,
                                     vn_archive_page_t *page);

/* Appends one message to an archive on the storage thread: submitted now,
 * so that it is stored before anything the client sends later is
 * acknowledged (XEP-0198 barrier, mod/sm.c), as an ordered job of the
 * archive's owner (xmpp/server.h), so that an archive's order is the order
 * of the appends and a query sees every message appended before it. fn is
 * vn_store_archive_append or its room variant. Takes ownership of xml. */
typedef int (*vn_mam_store_append_fn)(vn_store_t *st, const char *owner, const char *id,
                                      int64_t ts_us, const char *with, const char *xml, size_t len);
void vn_mam_submit_append(vn_server_t *srv, vn_mam_store_append_fn fn, const char *owner,
                          const char *with, const char *id, int64_t ts, char *xml, size_t len);

/* Answers a <query xmlns='urn:xmpp:mam:2'/> set (XEP-0313 §4): parses the
 * form and RSM, answers errors itself, else reads the page of archive
 * `owner` (a bare JID, also the results' 'from') with fn and sends the
 * results and the IQ result to session s. The caller has checked access. */
void vn_mam_query_start(vn_server_t *srv, vn_stanza_t *st, vn_session_t *s, const char *owner,
                        vn_mam_store_query_fn fn);
/* The same for a room archive: 'with' is an occupant JID (room@service/nick,
 * what a room archive keeps as the sender, XEP-0313 on MUC archives), matched
 * exactly, never a real JID. */
void vn_mam_query_start_room(vn_server_t *srv, vn_stanza_t *st, vn_session_t *s,
                             const char *owner, vn_mam_store_query_fn fn);
/* Answers a query form get (XEP-0313 §4.1.5). */
void vn_mam_query_form(vn_server_t *srv, vn_stanza_t *st);

#endif
