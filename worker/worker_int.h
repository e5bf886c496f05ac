#ifndef WORKER_INT_H
#define WORKER_INT_H

/*
 * NAME
 *	worker_int 3h
 * SUMMARY
 *	worker/ internals shared between its files
 * SYNOPSIS
 *	#include "worker/worker_int.h"
 * DESCRIPTION
 *	Private to worker/: no other folder includes this.
 */

#include <stdatomic.h>

#include <cert.h>
#include <cms.h>
#include <keyhi.h>
#include <pk11pub.h>
#include <prerror.h>
#include <secerr.h>
#include <smime.h>

#include <uv.h>

#include "worker.h"
#include "queue/queue.h"

/* certsync.c: the cluster's certificates into the worker's own database */
struct worker__certsync;
struct worker__certsync *worker__certsync_start(uv_loop_t *, struct queue *, struct certs *,
						const char *key_file);
void	worker__certsync_stop(struct worker__certsync *, void (*stopped) (void *), void *arg);
#include "certs/certs.h"

/* smime_in.c: is the root entity encrypted (what a scanner cannot read)? */
bool	worker__encrypted(const char *msg, size_t len);

/* smime.c */
void	worker__nss_reason(char *dst, size_t len, const char *what);
int	worker__prepare(const char *msg, size_t len, const char *drop,
			struct sg_buf *canon, struct sg_buf *outer, struct sg_buf *entity);
void	worker__put_pkcs7(struct sg_buf *out, const struct sg_buf *outer,
			  const char *smime_type, const SECItem *der);

/* der.c */
struct worker_der {
	const unsigned char *p;		/* the tag */
	size_t	hdr;			/* tag and length octets */
	size_t	len;			/* content octets */
	size_t	eoc;			/* 2 for an indefinite length, else 0 */
};
int	worker__der_read(const unsigned char *p, size_t n, struct worker_der *);
const unsigned char *worker__der_content(const struct worker_der *);
size_t	worker__der_size(const struct worker_der *);
struct worker_der_it {
	const unsigned char *p;		/* the content of the constructed TLV */
	size_t	n, off;
};
void	worker__der_enter(const struct worker_der *, struct worker_der_it *);
int	worker__der_next(struct worker_der_it *, struct worker_der *);
int	worker__der_octets(const struct worker_der *, struct sg_buf *out);
int	worker__der_uint(const struct worker_der *, uint64_t *);
void	worker__der_put_hdr(struct sg_buf *, unsigned char tag, size_t len);
void	worker__der_put(struct sg_buf *, unsigned char tag, const void *p, size_t len);

/* cms_alg.c: OIDs as DER, algorithm identifiers, hash functions */
enum worker_oid {
	WORKER_OID_DATA,		/* 1.2.840.113549.1.7.1 id-data */
	WORKER_OID_SIGNED_DATA,		/* 1.2.840.113549.1.7.2 id-signedData */
	WORKER_OID_ENVELOPED_DATA,		/* 1.2.840.113549.1.7.3 id-envelopedData */
	WORKER_OID_AUTH_ENVELOPED_DATA,		/* 1.2.840.113549.1.9.16.1.23 id-ct-authEnvelopedData */
	WORKER_OID_CONTENT_TYPE,		/* 1.2.840.113549.1.9.3 contentType */
	WORKER_OID_MESSAGE_DIGEST,		/* 1.2.840.113549.1.9.4 messageDigest */
	WORKER_OID_SIGNING_TIME,		/* 1.2.840.113549.1.9.5 signingTime */
	WORKER_OID_SMIME_CAPS,		/* 1.2.840.113549.1.9.15 smimeCapabilities */
	WORKER_OID_ENC_KEY_PREF,		/* 1.2.840.113549.1.9.16.2.11 id-aa-encrypKeyPref */
	WORKER_OID_MS_ENC_KEY_PREF,		/* 1.3.6.1.4.1.311.16.4 Microsoft encryption key preference */
	WORKER_OID_RSA,		/* 1.2.840.113549.1.1.1 rsaEncryption */
	WORKER_OID_RSAES_OAEP,		/* 1.2.840.113549.1.1.7 id-RSAES-OAEP */
	WORKER_OID_MGF1,		/* 1.2.840.113549.1.1.8 id-mgf1 */
	WORKER_OID_PSPECIFIED,		/* 1.2.840.113549.1.1.9 id-pSpecified */
	WORKER_OID_RSASSA_PSS,		/* 1.2.840.113549.1.1.10 id-RSASSA-PSS */
	WORKER_OID_SHA256_RSA,		/* 1.2.840.113549.1.1.11 sha256WithRSAEncryption */
	WORKER_OID_SHA384_RSA,		/* 1.2.840.113549.1.1.12 sha384WithRSAEncryption */
	WORKER_OID_SHA512_RSA,		/* 1.2.840.113549.1.1.13 sha512WithRSAEncryption */
	WORKER_OID_SHA1,		/* 1.3.14.3.2.26 id-sha1 */
	WORKER_OID_SHA256,		/* 2.16.840.1.101.3.4.2.1 id-sha256 */
	WORKER_OID_SHA384,		/* 2.16.840.1.101.3.4.2.2 id-sha384 */
	WORKER_OID_SHA512,		/* 2.16.840.1.101.3.4.2.3 id-sha512 */
	WORKER_OID_ECDSA_SHA256,		/* 1.2.840.10045.4.3.2 ecdsa-with-SHA256 */
	WORKER_OID_ECDSA_SHA384,		/* 1.2.840.10045.4.3.3 ecdsa-with-SHA384 */
	WORKER_OID_ECDSA_SHA512,		/* 1.2.840.10045.4.3.4 ecdsa-with-SHA512 */
	WORKER_OID_EC_PUBLIC_KEY,		/* 1.2.840.10045.2.1 id-ecPublicKey */
	WORKER_OID_P256,		/* 1.2.840.10045.3.1.7 prime256v1 */
	WORKER_OID_P384,		/* 1.3.132.0.34 secp384r1 */
	WORKER_OID_P521,		/* 1.3.132.0.35 secp521r1 */
	WORKER_OID_AES128_CBC,		/* 2.16.840.1.101.3.4.1.2 aes128-CBC */
	WORKER_OID_AES192_CBC,		/* 2.16.840.1.101.3.4.1.22 aes192-CBC */
	WORKER_OID_AES256_CBC,		/* 2.16.840.1.101.3.4.1.42 aes256-CBC */
	WORKER_OID_AES128_GCM,		/* 2.16.840.1.101.3.4.1.6 aes128-GCM */
	WORKER_OID_AES192_GCM,		/* 2.16.840.1.101.3.4.1.26 aes192-GCM */
	WORKER_OID_AES256_GCM,		/* 2.16.840.1.101.3.4.1.46 aes256-GCM */
	WORKER_OID_AES128_WRAP,		/* 2.16.840.1.101.3.4.1.5 id-aes128-wrap */
	WORKER_OID_AES192_WRAP,		/* 2.16.840.1.101.3.4.1.25 id-aes192-wrap */
	WORKER_OID_AES256_WRAP,		/* 2.16.840.1.101.3.4.1.45 id-aes256-wrap */
	WORKER_OID_DES_EDE3_CBC,		/* 1.2.840.113549.3.7 des-ede3-cbc */
	WORKER_OID_ECDH_SHA1KDF,		/* 1.3.133.16.840.63.0.2 dhSinglePass-stdDH-sha1kdf-scheme */
	WORKER_OID_ECDH_SHA224KDF,		/* 1.3.132.1.11.0 dhSinglePass-stdDH-sha224kdf-scheme */
	WORKER_OID_ECDH_SHA256KDF,		/* 1.3.132.1.11.1 dhSinglePass-stdDH-sha256kdf-scheme */
	WORKER_OID_ECDH_SHA384KDF,		/* 1.3.132.1.11.2 dhSinglePass-stdDH-sha384kdf-scheme */
	WORKER_OID_ECDH_SHA512KDF,		/* 1.3.132.1.11.3 dhSinglePass-stdDH-sha512kdf-scheme */
	WORKER_OID_ECDH_CO_SHA1KDF,		/* 1.3.133.16.840.63.0.3 dhSinglePass-cofactorDH-sha1kdf-scheme */
	WORKER_OID_ECDH_CO_SHA256KDF,		/* 1.3.132.1.14.1 dhSinglePass-cofactorDH-sha256kdf-scheme */
	WORKER_OID_ECDH_CO_SHA384KDF,		/* 1.3.132.1.14.2 dhSinglePass-cofactorDH-sha384kdf-scheme */
	WORKER_OID_ECDH_CO_SHA512KDF,		/* 1.3.132.1.14.3 dhSinglePass-cofactorDH-sha512kdf-scheme */
	WORKER_OID_COUNT,
};

struct worker_oid_der {
	size_t	len;
	unsigned char der[16];		/* the whole TLV */
};
extern const struct worker_oid_der worker__oids[WORKER_OID_COUNT];

struct worker_algid {
	int	oid;			/* enum worker_oid, -1: not ours */
	struct worker_der id;		/* the OBJECT IDENTIFIER */
	struct worker_der params;	/* params.p NULL: absent */
};

void	worker__oid_put(struct sg_buf *, int oid);
int	worker__oid_of(const struct worker_der *);
void	worker__algid_put(struct sg_buf *, int oid, const void *params, size_t plen);
int	worker__algid_read(const struct worker_der *, struct worker_algid *);
int	worker__hash_of(const struct worker_algid *);
void	worker__hash_algid_put(struct sg_buf *, int hash, bool null_params);
SECOidTag worker__hash_tag(int hash);
unsigned long worker__hash_mech(int hash);
unsigned long worker__hash_mgf(int hash);
unsigned worker__hash_len(int hash);
const char *worker__hash_name(int hash);

/* cms_caps.c: the SMIMECapabilities value for WORKER_CAP_*, and back */
void	worker__caps_put(struct sg_buf *, unsigned caps);
unsigned worker__caps_parse(const void *der, size_t len);

/* cms_sign.c, smime.c: a cached signer */
struct worker_signer {
	CERTCertificate *cert;
	CERTCertificate *enc;
	SECKEYPrivateKey *key;		/* in memory (certs_keys.c), or on its token */
	struct sg_buf isn;		/* DER IssuerAndSerialNumber of cert */
	CERTCertificateList *chain_der;	/* cert and its issuers, no root */
	struct sg_buf ekp;		/* encryption key preference value, or empty */
	struct sg_buf ms_ekp;		/* the same for Outlook's OID */
};

int	worker__cms_sign(const struct worker_signer *, const struct worker_sign_spec *,
			 const char *content, size_t len, bool detached, struct sg_buf *out);
void	worker__issuer_sn(CERTCertificate *, struct sg_buf *out);
int	worker__ecdsa_der(const unsigned char *raw, size_t len, struct sg_buf *out);

/* cms_parse.c: decoders of encrypted CMS (untrusted input) */
#define WORKER_RI_KTRI	(1u << 0)	/* key transport (RSA) */
#define WORKER_RI_KARI	(1u << 1)	/* key agreement (ECDH) */
#define WORKER_RI_OTHER	(1u << 2)	/* KEK, password, other */

struct worker_cms_env {
	bool	auth;			/* AuthEnvelopedData */
	uint64_t version;
	struct worker_der originator;	/* [0], p NULL: absent */
	struct worker_der ris;		/* SET OF RecipientInfo */
	struct worker_der ctype;	/* content type OID */
	struct worker_algid cea;	/* content-encryption algorithm */
	struct worker_der econtent;	/* [0] encryptedContent; p NULL: absent */
	struct worker_der auth_attrs;	/* [1]; p NULL: absent */
	struct worker_der mac;		/* AuthEnvelopedData */
	struct worker_der unauth_attrs;	/* [1] / [2]; p NULL: absent */
};

struct worker_cms_ri {
	int	kind;			/* WORKER_RI_* */
	struct worker_der tlv;
};

struct worker_cms_ktri {
	bool	rid_ski;		/* rid is [0] subjectKeyIdentifier */
	struct worker_der rid;		/* IssuerAndSerialNumber, or the [0] */
	struct worker_algid kea;	/* key-encryption algorithm */
	struct worker_der ekey;		/* encryptedKey */
};

struct worker_cms_oaep {
	int	hash, mgf_hash;		/* enum worker_hash */
	struct worker_der label;	/* pSpecified OCTET STRING; p NULL: empty */
};

int	worker__cms_env_parse(const void *der, size_t len, struct worker_cms_env *);
int	worker__cms_ri_next(const struct worker_cms_env *, size_t *off, struct worker_cms_ri *);
int	worker__cms_signed_check(const void *der, size_t len, const char **why);
int	worker__cms_ktri_parse(const struct worker_der *ri, struct worker_cms_ktri *);
int	worker__cms_oaep_parse(const struct worker_algid *kea, struct worker_cms_oaep *);

struct worker_cms_gcm {
	struct worker_der nonce;	/* primitive OCTET STRING */
	unsigned icvlen;		/* 12 when absent */
	bool	icv_explicit;
};
int	worker__cms_gcm_parse(const struct worker_algid *cea, struct worker_cms_gcm *);

struct worker_cms_kari {
	struct worker_algid okey_alg;	/* the originator's id-ecPublicKey */
	const unsigned char *point;	/* its ECPoint, 04 || X || Y */
	size_t	pointlen;
	struct worker_der ukm;		/* OCTET STRING; p NULL: none */
	struct worker_algid kea;	/* the key agreement scheme */
	struct worker_algid wrap;	/* kea's parameters: the key wrap */
	struct worker_der reks;		/* RecipientEncryptedKeys */
};

struct worker_cms_rek {
	bool	rid_ski;		/* from an rKeyId */
	struct worker_der rid;		/* IssuerAndSerialNumber, or the SKI OCTET STRING */
	struct worker_der ekey;		/* encryptedKey */
};
int	worker__cms_kari_parse(const struct worker_der *ri, struct worker_cms_kari *);
int	worker__cms_rek_next(const struct worker_cms_kari *, size_t *off, struct worker_cms_rek *);

/* cms_kem.c: key transport (and agreement) for one recipient */
int	worker__ktri_put(CERTCertificate *rcpt, int kt, PK11SymKey *cek, struct sg_buf *out);
PK11SymKey *worker__ktri_unwrap(SECKEYPrivateKey *key, const struct worker_cms_ktri *,
				CK_MECHANISM_TYPE target, int keylen);
int	worker__kari_put(CERTCertificate *rcpt, PK11SymKey *cek, struct sg_buf *out);
PK11SymKey *worker__kari_unwrap(SECKEYPrivateKey *key, const SECKEYPublicKey *pub,
				const struct worker_cms_kari *, const struct worker_cms_rek *,
				CK_MECHANISM_TYPE target, int keylen);

/* cms_env.c, cms_dec.c: EnvelopedData and AuthEnvelopedData */
struct worker_cipher {
	int	oid;			/* enum worker_oid */
	CK_MECHANISM_TYPE mech;
	int	keylen;			/* bytes */
	bool	gcm;			/* AuthEnvelopedData */
};
const struct worker_cipher *worker__cipher(int content);
int	worker__cms_encrypt(const struct worker_recipient *, size_t n, int content,
			    const char *p, size_t len, struct sg_buf *der);
int	worker__cms_decrypt(struct certs *, const void *der, size_t len, struct sg_buf *plain,
			    char *reason, size_t rlen);

/* A snapshot of the configuration, shared by the threads (pool.c). */
struct worker_snap {
	int	refs;			/* under the pool's mutex */
	struct sg_arena *arena;		/* owns everything below */
	struct worker_conf conf;	/* deep copy */
	char   *hostname;
};

struct worker_snap *worker__snap_new(const struct worker_conf *, const char *hostname);

/* The state one crypto thread carries between messages (process.c). */
#define WORKER_SIGNER_CACHE	32

struct worker_cached_signer {
	char	sender[256];		/* lower case; "" free */
	struct worker_signer *signer;	/* NULL: none found (negative cache) */
	int64_t	expires;
};

struct worker_thread {
	const atomic_bool *stop;	/* the pool's stop flag, NULL: no pool */
	struct queue *q;
	struct certs *certs;
	char	owner[64];
	struct worker_cached_signer cache[WORKER_SIGNER_CACHE];
	unsigned next_slot;
	struct worker_notify *notify;	/* shared rate limit, may be NULL */
	char   *cluster_key_file;	/* harvests shared with a mac; NULL: without */
	int64_t	claimed_ms;		/* when the batch in hand was claimed */
	int64_t	scan_down_until;	/* clamd failed: skip it until then (scan.c) */
	char	scan_down_why[160];
};

void	worker__thread_init(struct worker_thread *, struct queue *, struct certs *,
			    const char *owner, struct worker_notify *);
void	worker__thread_done(struct worker_thread *);
/* A processed message waiting for its thread's group commit. */
struct worker_done {
	struct queue_completion c;	/* id, parts; result after the commit */
	size_t	bytes;			/* bodies it holds */
	struct worker_parts *own;	/* what c points into (process.c) */
	struct queue_tally tally;	/* c.tally: its crypto, counted with it */
};

int	worker__process(struct worker_thread *, const struct worker_snap *, uint64_t id,
			struct worker_done *);
void	worker__done_log(const struct worker_done *);
void	worker__done_free(struct worker_done *);

/* batch.c */
int	worker__claim_and_process(struct worker_thread *, const struct worker_snap *, size_t *n);

/* pool.c */
struct worker_pool;
struct worker_pool *worker__pool_start(struct queue *, struct certs *, const struct worker_conf *,
				       const char *hostname, size_t nthreads,
				       const char *cluster_key_file);
void	worker__pool_kick(struct worker_pool *);
void	worker__pool_reload(struct worker_pool *, const struct worker_conf *, const char *hostname);
void	worker__pool_stop(struct worker_pool *);

/* scan.c, scan_client.c: the virus scan step */
enum worker_scanned {
	WORKER_SCANNED_CLEAN,
	WORKER_SCANNED_INFECTED,
	WORKER_SCANNED_TOO_LARGE,	/* over max_size: not sent */
	WORKER_SCANNED_FAILED,		/* no verdict: why */
	WORKER_SCANNED_ENCRYPTED,	/* still encrypted: not sent */
};

struct worker_scan_result {
	int	outcome;		/* enum worker_scanned */
	char	name[WORKER_SCAN_NAME_MAX];	/* INFECTED: the signature */
	char	why[200];		/* TOO_LARGE, FAILED */
};

void	worker__scan(struct worker_thread *, const struct worker_scan_conf *, const char *p,
		     size_t len, struct worker_scan_result *);
void	worker__scan_stamp(const struct worker_scan_conf *, const struct worker_scan_result *,
			   const char *p, size_t len, struct sg_buf *out);
int	worker__clamd_instream(const struct worker_scan_addr *, const char *p, size_t len,
			       int64_t timeout_ms, struct sg_buf *reply, char *why, size_t wlen);

/* notice.c: incidents and the mails they cause */
struct worker_notify;
struct worker_notify *worker__notify_new(void);
void	worker__notify_free(struct worker_notify *);
struct worker_failure {
	uint64_t msg_id;
	const char *kind;		/* "no-cert", "bad-signature", ... */
	const char *sender;
	const char *rcpt;
	const char *rule;
	const char *text;
};
void	worker__incident(struct worker_thread *, const struct worker_snap *,
			 const struct worker_failure *);
void	worker__bounce(struct worker_thread *, const struct worker_snap *,
		       const struct queue_env *, const struct worker_failure *,
		       const struct sg_buf *original);

#endif
