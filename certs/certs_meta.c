/*
 * NAME
 *	certs_meta 3
 * SUMMARY
 *	what NSS does not store: gateway domains, harvest dates
 * SYNOPSIS
 *	#include "certs_int.h"
 *
 *	int	certs_meta_load(c, &meta)
 *	int	certs_meta_parse(buf, len, &meta)
 *	void	certs_meta_free(&meta)
 *	int	certs_meta_update(c, op, key, val)
 *	const char *certs_meta_gateway(meta, domain)
 *	int64_t	certs_meta_harvested(meta, fp)
 *	void	certs_meta_domains(meta, fp, buf, len)
 *	void	certs_fingerprint(cert, hex65)
 *	void	certs_capcache_free(c)
 *
 *	#include "certs/certs.h"
 *
 *	int	certs_caps(c, address, caps)
 *	int	certs_caps_update(c, address, caps)
 * DESCRIPTION
 *	The file sealgate-certs.meta in the database directory holds one
 *	record per line, fields separated by one space:
 *
 *		gateway DOMAIN FINGERPRINT
 *		harvested FINGERPRINT EPOCH-SECONDS
 *		caps ADDRESS HEX
 *
 *	FINGERPRINT is the certificate's SHA-256 in lower-case hex, which
 *	survives renaming and re-import, unlike an NSS nickname. A domain has
 *	at most one gateway certificate.
 *
 *	certs_meta_update() changes the file under an exclusive flock on
 *	sealgate-certs.lock, writing a new file and renaming it over the old
 *	one, so readers (other processes) see the old or the new file whole.
 *	Ops: CERTS_META_GATEWAY (set key=domain to val=fingerprint),
 *	CERTS_META_HARVESTED (key=fingerprint, val=epoch), CERTS_META_FORGET
 *	(drop every record naming fingerprint key).
 *
 *	certs_caps_update() records the S/MIME capabilities a partner
 *	advertised in a verified signature (an opaque bit mask, the worker's
 *	WORKER_CAP_*) under the lower-cased address; the file is rewritten
 *	only when the value changes, so harvesting the same partner's mail
 *	costs no write. certs_caps() reads them back: 0 with *caps set, or
 *	SG_ENOTFOUND. Its parse of the file is kept per process and redone
 *	only when the file's mtime, size or inode changed (one stat a
 *	look-up); certs_capcache_free() drops it at certs_close().
 *
 *	certs_meta_parse() takes the file's bytes with their length; lines
 *	that do not parse are skipped, so a damaged line costs that record
 *	only. The file is at most 4 MiB and a line at most 400 bytes.
 * DIAGNOSTICS
 *	SG_EIO for file errors, SG_ELIMIT for an oversize file.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sechash.h>

#include "certs_int.h"

#define META_FILE "sealgate-certs.meta"
#define LOCK_FILE "sealgate-certs.lock"
#define META_MAX (4u << 20)
#define LINE_MAX_LEN 400

void	certs_fingerprint(const CERTCertificate *cert, char hex[65])
{
	unsigned char d[32];

	hex[0] = 0;
	if (PK11_HashBuf(SEC_OID_SHA256, d, cert->derCert.data, (PRInt32) cert->derCert.len)
	    != SECSuccess)
		return;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void meta_add(struct certs_meta *m, int kind, const char *key, size_t klen,
		     const char *val, size_t vlen)
{
	struct certs_meta_ent *e;

	if (klen == 0 || vlen == 0 || klen >= sizeof(e->key) || vlen >= sizeof(e->val))
		return;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->v = sg_xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	e = &m->v[m->n++];
	e->kind = kind;
	memcpy(e->key, key, klen);
	e->key[klen] = 0;
	memcpy(e->val, val, vlen);
	e->val[vlen] = 0;
}

/* parse_line - "KIND KEY VAL" without the newline; bad lines are skipped */

static void parse_line(struct certs_meta *m, const char *p, size_t len)
{
	const char *sp1, *sp2;
	int	kind;

	if (len > LINE_MAX_LEN || (sp1 = memchr(p, ' ', len)) == NULL)
		return;
	if ((sp2 = memchr(sp1 + 1, ' ', len - (size_t) (sp1 + 1 - p))) == NULL)
		return;
	if (sp1 - p == 7 && memcmp(p, "gateway", 7) == 0)
		kind = CERTS_META_GATEWAY;
	else if (sp1 - p == 9 && memcmp(p, "harvested", 9) == 0)
		kind = CERTS_META_HARVESTED;
	else if (sp1 - p == 4 && memcmp(p, "caps", 4) == 0)
		kind = CERTS_META_CAPS;
	else
		return;
	for (const char *q = p; q < p + len; q++)
		if (*q <= ' ' && *q != ' ')
			return;
	if (memchr(sp2 + 1, ' ', len - (size_t) (sp2 + 1 - p)))
		return;
	meta_add(m, kind, sp1 + 1, (size_t) (sp2 - sp1 - 1), sp2 + 1,
		 len - (size_t) (sp2 + 1 - p));
}

int	certs_meta_parse(const char *buf, size_t len, struct certs_meta *m)
{
	memset(m, 0, sizeof(*m));
	if (len > META_MAX)
		return (SG_ELIMIT);
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t	n = nl ? (size_t) (nl - buf) : len;

		parse_line(m, buf, n);
		if (nl == NULL)
			break;
		buf += n + 1;
		len -= n + 1;
	}
	return (0);
}

void	certs_meta_free(struct certs_meta *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static char *meta_path(const struct certs *c, const char *name)
{
	struct sg_buf b = SG_BUF_INIT;

	sg_buf_printf(&b, "%s/%s", c->dir, name);
	return (b.data);
}

static int read_all(const char *path, struct sg_buf *out)
{
	char	buf[65536];
	ssize_t	n;
	int	fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return (errno == ENOENT ? 0 : SG_EIO);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (out->len + (size_t) n > META_MAX) {
			close(fd);
			return (SG_ELIMIT);
		}
		sg_buf_append(out, buf, (size_t) n);
	}
	close(fd);
	return (n < 0 ? SG_EIO : 0);
}

int	certs_meta_load(const struct certs *c, struct certs_meta *m)
{
	struct sg_buf b = SG_BUF_INIT;
	char   *path = meta_path(c, META_FILE);
	int	rc;

	memset(m, 0, sizeof(*m));
	if ((rc = read_all(path, &b)) == 0)
		rc = certs_meta_parse(b.data ? b.data : "", b.len, m);
	sg_buf_free(&b);
	free(path);
	return (rc);
}

static int write_meta(const struct certs *c, const struct certs_meta *m)
{
	struct sg_buf b = SG_BUF_INIT;
	char   *path = meta_path(c, META_FILE), *tmp = meta_path(c, META_FILE ".new");
	int	fd, rc = 0;

	for (size_t i = 0; i < m->n; i++)
		sg_buf_printf(&b, "%s %s %s\n", m->v[i].kind == CERTS_META_GATEWAY ? "gateway" :
			      m->v[i].kind == CERTS_META_CAPS ? "caps" : "harvested",
			      m->v[i].key, m->v[i].val);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		rc = SG_EIO;
	else {
		if ((b.len && write(fd, b.data, b.len) != (ssize_t) b.len) || fsync(fd) < 0)
			rc = SG_EIO;
		if (close(fd) < 0 || (rc == 0 && rename(tmp, path) < 0))
			rc = SG_EIO;
	}
	sg_buf_free(&b);
	free(path);
	free(tmp);
	return (rc);
}

static void meta_apply(struct certs_meta *m, int op, const char *key, const char *val)
{
	size_t	j = 0;

	for (size_t i = 0; i < m->n; i++) {
		const struct certs_meta_ent *e = &m->v[i];
		bool	drop;

		if (op == CERTS_META_FORGET)
			drop = (e->kind == CERTS_META_GATEWAY && strcmp(e->val, key) == 0) ||
				(e->kind == CERTS_META_HARVESTED && strcmp(e->key, key) == 0);
		else
			drop = e->kind == op && strcmp(e->key, key) == 0;
		if (!drop)
			m->v[j++] = *e;
	}
	m->n = j;
	if (op != CERTS_META_FORGET)
		meta_add(m, op, key, strlen(key), val, strlen(val));
}

int	certs_meta_update(struct certs *c, int op, const char *key, const char *val)
{
	char   *lock = meta_path(c, LOCK_FILE);
	struct certs_meta m;
	int	fd, rc;

	if (c->rdonly) {
		free(lock);
		return (SG_EDENIED);
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		if (fd >= 0)
			close(fd);
		return (SG_EIO);
	}
	if ((rc = certs_meta_load(c, &m)) == 0) {
		meta_apply(&m, op, key, val ? val : "");
		rc = write_meta(c, &m);
	}
	certs_meta_free(&m);
	close(fd);
	return (rc);
}

const char *certs_meta_gateway(const struct certs_meta *m, const char *domain)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].kind == CERTS_META_GATEWAY && strcasecmp(m->v[i].key, domain) == 0)
			return (m->v[i].val);
	return (NULL);
}

int64_t	certs_meta_harvested(const struct certs_meta *m, const char *fp)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].kind == CERTS_META_HARVESTED && strcmp(m->v[i].key, fp) == 0)
			return (strtoll(m->v[i].val, NULL, 10));
	return (0);
}

void	certs_meta_domains(const struct certs_meta *m, const char *fp, char *buf, size_t len)
{
	size_t	used = 0;

	buf[0] = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].kind != CERTS_META_GATEWAY || strcmp(m->v[i].val, fp) != 0)
			continue;
		int	k = snprintf(buf + used, len - used, "%s%s", used ? " " : "", m->v[i].key);

		if (k < 0 || (size_t) k >= len - used)
			break;
		used += (size_t) k;
	}
}

static const char *meta_caps(const struct certs_meta *m, const char *addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].kind == CERTS_META_CAPS && strcasecmp(m->v[i].key, addr) == 0)
			return (m->v[i].val);
	return (NULL);
}

void	certs_capcache_free(struct certs *c)
{
	if (c->capcache) {
		certs_meta_free(c->capcache);
		free(c->capcache);
		c->capcache = NULL;
	}
}

int	certs_caps(struct certs *c, const char *addr, unsigned *caps)
{
	char   *path = meta_path(c, META_FILE);
	const char *v = NULL;
	struct stat st;
	int	rc = SG_ENOTFOUND;

	pthread_mutex_lock(&c->lock);
	if (stat(path, &st) < 0) {
		certs_capcache_free(c);
	} else if (c->capcache == NULL || st.st_mtim.tv_sec != c->cap_mtime.tv_sec
		   || st.st_mtim.tv_nsec != c->cap_mtime.tv_nsec || st.st_size != c->cap_size
		   || st.st_ino != c->cap_ino) {
		certs_capcache_free(c);
		c->capcache = sg_xcalloc(1, sizeof(*c->capcache));
		if (certs_meta_load(c, c->capcache) < 0)
			certs_capcache_free(c);
		c->cap_mtime = st.st_mtim;
		c->cap_size = st.st_size;
		c->cap_ino = st.st_ino;
	}
	if (c->capcache && (v = meta_caps(c->capcache, addr)) != NULL) {
		*caps = (unsigned) strtoul(v, NULL, 16);
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	free(path);
	return (rc);
}

int	certs_caps_update(struct certs *c, const char *addr, unsigned caps)
{
	char	key[256], val[16];
	unsigned have;

	if (strlen(addr) >= sizeof(key) || strchr(addr, ' ') || *addr == 0)
		return (SG_EINVAL);
	for (size_t i = 0; i <= strlen(addr); i++)
		key[i] = (char) tolower((unsigned char) addr[i]);
	if (certs_caps(c, key, &have) == 0 && have == caps)
		return (0);			/* known: no write */
	snprintf(val, sizeof(val), "%x", caps);
	return (certs_meta_update(c, CERTS_META_CAPS, key, val));
}
