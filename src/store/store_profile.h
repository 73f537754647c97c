/* Storage of profiles and private data: vcard-temp (XEP-0054) with the
 * photo hash of XEP-0153, and private XML storage (XEP-0049). Schema
 * migration 3 (vn_store_schema_profile).
 *
 * Same conventions as store.h (return codes, threads, callbacks). Returned
 * strings are malloc'd; the caller frees them. XML is stored as the
 * serialised element, self-contained (its namespace declared on the element
 * itself). */
#ifndef VN_STORE_STORE_PROFILE_H
#define VN_STORE_STORE_PROFILE_H

#include "store/store.h"

/* The vCard of owner. 0 with *xml and *photo_hash set (photo_hash is the
 * lowercase hex SHA-1 of the decoded PHOTO BINVAL, "" when there is none),
 * 1 when the account has no vCard, -1 on error; both outputs are NULL
 * unless 0. Either output may be NULL when not wanted (photo_hash alone
 * does not read the photo). */
int vn_store_vcard_get(vn_store_t *st, const char *owner, char **xml, char **photo_hash);
/* Replaces the vCard of owner (xml NULL removes it; removing none is 0).
 * 0 or -1 (also when owner is not an account). */
int vn_store_vcard_set(vn_store_t *st, const char *owner, const char *xml, const char *photo_hash);

/* The private XML element of owner in namespace ns (XEP-0049 §2): 0 with
 * *xml set, 1 when none is stored, -1 on error; *xml is NULL unless 0. */
int vn_store_private_get(vn_store_t *st, const char *owner, const char *ns, char **xml);
/* Stores (replaces) the element of namespace ns; xml NULL removes it.
 * max_entries bounds how many namespaces one account may keep (0: no
 * bound): 0, VN_STORE_FULL (2) when a new namespace would exceed it
 * (nothing written), -1 on error. */
int vn_store_private_set(vn_store_t *st, const char *owner, const char *ns, const char *xml,
                         int max_entries);

#endif
