/*
 * NAME
 *	certs_tls 3
 * SUMMARY
 *	TLS sessions over memory buffers (NSS libssl on certs_memio)
 * SYNOPSIS
 *	#include "certs/certs.h"
 *
 *	int	certs_tls_server_new(c, &server)
 *	void	certs_tls_server_free(server)
 *	int	certs_tls_accept(server, peer, &t)
 *	int	certs_tls_connect(c, server_name, peer, &t)
 *	ssize_t	certs_tls_feed(t, buf, len)
 *	void	certs_tls_feed_eof(t)
 *	size_t	certs_tls_in_room(t)
 *	size_t	certs_tls_take(t, buf, len)
 *	size_t	certs_tls_pending(t)
 *	int	certs_tls_handshake(t)
 *	bool	certs_tls_handshake_done(t)
 *	ssize_t	certs_tls_read(t, buf, len)
 *	ssize_t	certs_tls_write(t, buf, len)
 *	int	certs_tls_close_notify(t)
 *	void	certs_tls_free(t)
 *	const char *certs_tls_error(t)
 *	int	certs_tls_info(t, &info)
 *	int	certs_tls_peer(t, &peer)
 *
 *	PRFileDesc *certs_tls_nssfd(t)
 * DESCRIPTION
 *	The contract is in certs.h. A server object is shared by the threads
 *	that accept: its model sockets are only read, under its mutex (the
 *	copy in SSL_ImportFD and SSL_ReconfigFD). A server keeps one model socket per
 *	certificate (tls_cert first, then tls_sni_certs); each session is
 *	imported from the first, and the SNI hook switches a session to the
 *	model whose certificate matches the name the client asked for.
 *
 *	A client session checks the server's certificate in NSS's
 *	authenticate-certificate hook and always lets the handshake go on:
 *	the verdict is stored for certs_tls_peer(). The check uses libpkix
 *	with a revocation policy that reads local CRLs only and fetches
 *	nothing, so it cannot block.
 *
 *	TLS 1.2 renegotiation is refused both ways: a client could make the
 *	server pay a private-key operation per request, and SMTP never needs
 *	it.
 *
 *	Outbound back-pressure is applied before NSS sees plaintext: a write
 *	is refused (SG_EAGAIN) while the ciphertext queue holds
 *	tls_buffer_size bytes, and otherwise limited to the room left, so
 *	the queue exceeds the bound by at most one record's overhead.
 *	certs_tls_nssfd() gives certs_dane.c the NSS socket of a finished
 *	client handshake (NULL before), to read the peer's chain.
 * DIAGNOSTICS
 *	Errors are returned; certs_tls_error() names the NSS error.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ssl.h>
#include <sslproto.h>
#include <sslerr.h>
#include <secerr.h>
#include <prerror.h>

#include "certs_int.h"

struct certs_tls_server {
	struct certs *c;
	pthread_mutex_t lock;		/* models are read by imports and SNI */
	size_t	n;
	PRFileDesc **models;
	CERTCertificate **certs;
	SECKEYPrivateKey **keys;
};

struct certs_tls {
	struct certs *c;
	PRFileDesc *fd;
	struct certs_memio *m;
	bool	server;
	bool	done;
	int	failed;			/* sticky error, 0 if none */
	char   *server_name;
	char	err[64];
	struct certs_tls_peer peer;
};

/* Server */

static int set_versions(PRFileDesc *fd, const struct certs *c)
{
	SSLVersionRange r = {(PRUint16) c->tls_min, (PRUint16) c->tls_max};

	return (SSL_VersionRangeSet(fd, &r) == SECSuccess ? 0 : SG_EINVAL);
}

/* sni_match - the first certificate valid for name, or -1 */

static int sni_match(struct certs_tls_server *s, const SECItem *item)
{
	char	name[256];

	if (item->len == 0 || item->len >= sizeof(name) || memchr(item->data, 0, item->len))
		return (-1);
	memcpy(name, item->data, item->len);
	name[item->len] = 0;
	for (size_t i = 0; i < s->n; i++)
		if (CERT_VerifyCertName(s->certs[i], name) == SECSuccess)
			return ((int) i);
	return (-1);
}

static PRInt32 sni_hook(PRFileDesc *fd, const SECItem *names, PRUint32 n, void *arg)
{
	struct certs_tls_server *s = arg;

	for (PRUint32 i = 0; i < n; i++) {
		int	k = sni_match(s, &names[i]);

		PRFileDesc *ok = fd;

		if (k < 0)
			continue;
		if (k > 0) {
			pthread_mutex_lock(&s->lock);
			ok = SSL_ReconfigFD(s->models[k], fd);
			pthread_mutex_unlock(&s->lock);
		}
		return (ok ? (PRInt32) i : SSL_SNI_SEND_ALERT);
	}
	return (SSL_SNI_CURRENT_CONFIG_IS_USED);
}

static PRFileDesc *new_model(struct certs *c)
{
	PRFileDesc *base = certs_memio_new(1, NULL), *model;

	if (base == NULL)
		return (NULL);
	if ((model = SSL_ImportFD(NULL, base)) == NULL) {
		PR_Close(base);
		return (NULL);
	}
	if (SSL_OptionSet(model, SSL_SECURITY, PR_TRUE) != SECSuccess ||
	    SSL_OptionSet(model, SSL_HANDSHAKE_AS_SERVER, PR_TRUE) != SECSuccess ||
	    SSL_OptionSet(model, SSL_HANDSHAKE_AS_CLIENT, PR_FALSE) != SECSuccess ||
	    SSL_OptionSet(model, SSL_ENABLE_SESSION_TICKETS, PR_TRUE) != SECSuccess ||
	    SSL_OptionSet(model, SSL_ENABLE_RENEGOTIATION, SSL_RENEGOTIATE_NEVER) != SECSuccess ||
	    set_versions(model, c) < 0) {
		PR_Close(model);
		return (NULL);
	}
	return (model);
}

/* server_add - one certificate by nickname, with its key, on a new model */

static int server_add(struct certs_tls_server *s, const char *nick)
{
	size_t	i = s->n;

	if ((s->certs[i] = PK11_FindCertFromNickname(nick, NULL)) == NULL)
		return (SG_ENOTFOUND);
	s->n++;
	if ((s->keys[i] = certs_key_for(s->c, s->certs[i])) == NULL)
		return (SG_ENOTFOUND);
	if ((s->models[i] = new_model(s->c)) == NULL)
		return (SG_ETLS);
	if (SSL_ConfigServerCert(s->models[i], s->certs[i], s->keys[i], NULL, 0) != SECSuccess)
		return (SG_ETLS);
	return (0);
}

static int sid_cache(struct certs *c)
{
	PRUint32 secs = (PRUint32) (c->tls_session_timeout / 1000);

	if (c->sid_cache)
		return (0);
	if (SSL_ConfigServerSessionIDCache(0, secs, secs, NULL) != SECSuccess)
		return (SG_ETLS);
	c->sid_cache = true;
	return (0);
}

int	certs_tls_server_new(struct certs *c, struct certs_tls_server **out)
{
	struct certs_tls_server *s;
	size_t	max = c->ntls_sni + 1;
	int	rc;

	*out = NULL;
	if (*c->tls_cert == 0)
		return (SG_EINVAL);
	if ((rc = sid_cache(c)) < 0)
		return (rc);
	s = sg_xcalloc(1, sizeof(*s));
	s->c = c;
	pthread_mutex_init(&s->lock, NULL);
	s->models = sg_xcalloc(max, sizeof(*s->models));
	s->certs = sg_xcalloc(max, sizeof(*s->certs));
	s->keys = sg_xcalloc(max, sizeof(*s->keys));
	rc = server_add(s, c->tls_cert);
	for (size_t i = 0; rc == 0 && i < c->ntls_sni; i++)
		rc = server_add(s, c->tls_sni[i]);
	if (rc == 0 && SSL_SNISocketConfigHook(s->models[0], sni_hook, s) != SECSuccess)
		rc = SG_ETLS;
	if (rc < 0) {
		certs_tls_server_free(s);
		return (rc);
	}
	*out = s;
	return (0);
}

void	certs_tls_server_free(struct certs_tls_server *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (s->models[i])
			PR_Close(s->models[i]);
		if (s->keys[i])
			SECKEY_DestroyPrivateKey(s->keys[i]);
		CERT_DestroyCertificate(s->certs[i]);
	}
	free(s->models);
	free(s->certs);
	free(s->keys);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Sessions */

static void on_handshake(PRFileDesc *fd, void *arg)
{
	struct certs_tls *t = arg;

	(void) fd;
	t->done = true;
}

static struct certs_tls *session_new(struct certs *c, const struct sockaddr *peer,
				     struct certs_tls_server *srv)
{
	PRFileDesc *model = srv ? srv->models[0] : NULL;
	PRFileDesc *base = certs_memio_new(c->tls_buffer, peer);
	struct certs_tls *t;

	if (base == NULL)
		return (NULL);
	t = sg_xcalloc(1, sizeof(*t));
	t->c = c;
	if (srv)
		pthread_mutex_lock(&srv->lock);
	t->fd = SSL_ImportFD(model, base);
	if (srv)
		pthread_mutex_unlock(&srv->lock);
	if (t->fd == NULL) {
		PR_Close(base);
		free(t);
		return (NULL);
	}
	t->m = certs_memio_of(t->fd);
	if (SSL_HandshakeCallback(t->fd, on_handshake, t) != SECSuccess) {
		certs_tls_free(t);
		return (NULL);
	}
	return (t);
}

int	certs_tls_accept(struct certs_tls_server *s, const struct sockaddr *peer,
			 struct certs_tls **out)
{
	struct certs_tls *t;

	if ((*out = t = session_new(s->c, peer, s)) == NULL)
		return (SG_ETLS);
	t->server = true;
	if (SSL_ResetHandshake(t->fd, PR_TRUE) != SECSuccess) {
		certs_tls_free(t);
		*out = NULL;
		return (SG_ETLS);
	}
	return (0);
}

/* check_peer - chain (trust, validity, local CRLs) and host name */

static void check_peer(struct certs_tls *t, CERTCertificate *cert)
{
	CERTValInParam in[2];
	CERTValOutParam outp[1];
	const char *reason = NULL;

	in[0].type = cert_pi_revocationFlags;
	in[0].value.pointer.revocation = CERT_GetClassicOCSPDisabledPolicy();
	in[1].type = cert_pi_end;
	outp[0].type = cert_po_end;
	t->peer.presented = true;
	t->peer.chain_ok = CERT_PKIXVerifyCert(cert, certificateUsageSSLServer,
					       in, outp, NULL) == SECSuccess;
	if (!t->peer.chain_ok)
		reason = certs_nss_errname();
	t->peer.name_ok = t->server_name &&
		CERT_VerifyCertName(cert, t->server_name) == SECSuccess;
	if (reason == NULL && !t->peer.name_ok)
		reason = t->server_name ? certs_nss_errname() : "no server name to check";
	snprintf(t->peer.reason, sizeof(t->peer.reason), "%s", reason ? reason : "");
}

/* auth_hook - record the verdict; the caller's policy decides */

static SECStatus auth_hook(void *arg, PRFileDesc *fd, PRBool checksig, PRBool isserver)
{
	struct certs_tls *t = arg;
	CERTCertificate *cert = SSL_PeerCertificate(fd);

	(void) checksig;
	(void) isserver;
	if (cert == NULL) {
		snprintf(t->peer.reason, sizeof(t->peer.reason), "no certificate");
		return (SECSuccess);
	}
	check_peer(t, cert);
	CERT_DestroyCertificate(cert);
	return (SECSuccess);
}

static int client_setup(struct certs_tls *t, const char *server_name)
{
	PRFileDesc *fd = t->fd;

	if (SSL_OptionSet(fd, SSL_SECURITY, PR_TRUE) != SECSuccess ||
	    SSL_OptionSet(fd, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE) != SECSuccess ||
	    SSL_OptionSet(fd, SSL_HANDSHAKE_AS_SERVER, PR_FALSE) != SECSuccess ||
	    SSL_OptionSet(fd, SSL_ENABLE_SESSION_TICKETS, PR_TRUE) != SECSuccess ||
	    SSL_OptionSet(fd, SSL_ENABLE_RENEGOTIATION, SSL_RENEGOTIATE_NEVER) != SECSuccess ||
	    set_versions(fd, t->c) < 0)
		return (SG_ETLS);
	if (server_name && *server_name) {
		t->server_name = sg_xstrdup(server_name);
		if (SSL_SetURL(fd, server_name) != SECSuccess)
			return (SG_EINVAL);
	}
	if (SSL_AuthCertificateHook(fd, auth_hook, t) != SECSuccess)
		return (SG_ETLS);
	if (SSL_ResetHandshake(fd, PR_FALSE) != SECSuccess)
		return (SG_ETLS);
	return (0);
}

int	certs_tls_connect(struct certs *c, const char *server_name,
			  const struct sockaddr *peer, struct certs_tls **out)
{
	struct certs_tls *t;
	int	rc;

	if ((*out = t = session_new(c, peer, NULL)) == NULL)
		return (SG_ETLS);
	if ((rc = client_setup(t, server_name)) < 0) {
		certs_tls_free(t);
		*out = NULL;
	}
	return (rc);
}

/* Moving bytes */

ssize_t	certs_tls_feed(struct certs_tls *t, const void *buf, size_t len)
{
	return (certs_memio_feed(t->m, buf, len));
}

void	certs_tls_feed_eof(struct certs_tls *t)
{
	certs_memio_eof(t->m);
}

size_t	certs_tls_in_room(const struct certs_tls *t)
{
	return (certs_memio_room(t->m));
}

size_t	certs_tls_take(struct certs_tls *t, void *buf, size_t len)
{
	return (certs_memio_take(t->m, buf, len));
}

size_t	certs_tls_pending(const struct certs_tls *t)
{
	return (certs_memio_pending(t->m));
}

/* fail - map the NSS error after a failed call; WOULD_BLOCK is not sticky */

static int fail(struct certs_tls *t)
{
	PRErrorCode e = PR_GetError();
	const char *name;

	if (e == PR_WOULD_BLOCK_ERROR)
		return (SG_EAGAIN);
	name = PR_ErrorToName(e);
	snprintf(t->err, sizeof(t->err), "%s", name ? name : "unknown");
	if (e == PR_END_OF_FILE_ERROR)
		t->failed = SG_ECLOSED;
	else
		t->failed = SG_ETLS;
	return (t->failed);
}

int	certs_tls_handshake(struct certs_tls *t)
{
	if (t->failed)
		return (t->failed);
	if (t->done)
		return (0);
	if (SSL_ForceHandshake(t->fd) == SECSuccess) {
		t->done = true;
		return (0);
	}
	if (t->done)
		return (0);
	return (fail(t));
}

bool	certs_tls_handshake_done(const struct certs_tls *t)
{
	return (t->done);
}

ssize_t	certs_tls_read(struct certs_tls *t, void *buf, size_t len)
{
	PRInt32	n;
	int	rc;

	if (!t->done && (rc = certs_tls_handshake(t)) < 0)
		return (rc);
	if (t->failed)
		return (t->failed);
	if (len > INT_MAX)
		len = INT_MAX;
	if ((n = PR_Read(t->fd, buf, (PRInt32) len)) >= 0)
		return (n);
	if (PR_GetError() == PR_END_OF_FILE_ERROR)
		return (0);
	return (fail(t));
}

ssize_t	certs_tls_write(struct certs_tls *t, const void *buf, size_t len)
{
	size_t	pending = certs_memio_pending(t->m);
	PRInt32	n;
	int	rc;

	if (!t->done && (rc = certs_tls_handshake(t)) < 0)
		return (rc);
	if (t->failed)
		return (t->failed);
	if (pending >= t->c->tls_buffer)
		return (SG_EAGAIN);
	if (len > t->c->tls_buffer - pending)
		len = t->c->tls_buffer - pending;
	if (len == 0)
		return (0);
	if ((n = PR_Write(t->fd, buf, (PRInt32) len)) > 0)
		return (n);
	return (n == 0 ? SG_EAGAIN : fail(t));
}

int	certs_tls_close_notify(struct certs_tls *t)
{
	if (PR_Shutdown(t->fd, PR_SHUTDOWN_SEND) != PR_SUCCESS)
		return (fail(t));
	return (0);
}

void	certs_tls_free(struct certs_tls *t)
{
	if (t == NULL)
		return;
	if (t->fd)
		PR_Close(t->fd);
	free(t->server_name);
	free(t);
}

const char *certs_tls_error(const struct certs_tls *t)
{
	return (t->err);
}

/* Reports */

static void version_name(char *dst, size_t len, PRUint16 v)
{
	switch (v) {
	case SSL_LIBRARY_VERSION_TLS_1_3:
		snprintf(dst, len, "TLSv1.3");
		break;
	case SSL_LIBRARY_VERSION_TLS_1_2:
		snprintf(dst, len, "TLSv1.2");
		break;
	case SSL_LIBRARY_VERSION_TLS_1_1:
		snprintf(dst, len, "TLSv1.1");
		break;
	default:
		snprintf(dst, len, "0x%04x", v);
	}
}

static void peer_subject(const struct certs_tls *t, char *dst, size_t len)
{
	CERTCertificate *cert = SSL_PeerCertificate(t->fd);
	char   *s;

	*dst = 0;
	if (cert == NULL)
		return;
	if ((s = CERT_NameToAscii(&cert->subject)) != NULL) {
		snprintf(dst, len, "%s", s);
		PORT_Free(s);
	}
	CERT_DestroyCertificate(cert);
}

static void sni_name(const struct certs_tls *t, char *dst, size_t len)
{
	SECItem *it;

	*dst = 0;
	if (!t->server) {
		if (t->server_name)
			snprintf(dst, len, "%s", t->server_name);
		return;
	}
	if ((it = SSL_GetNegotiatedHostInfo(t->fd)) != NULL) {
		sg_printable(dst, len, it->data, it->len);
		SECITEM_FreeItem(it, PR_TRUE);
	}
}

int	certs_tls_info(const struct certs_tls *t, struct certs_tls_info *info)
{
	SSLChannelInfo ci;
	SSLCipherSuiteInfo si;

	memset(info, 0, sizeof(*info));
	if (!t->done)
		return (SG_EAGAIN);
	if (SSL_GetChannelInfo(t->fd, &ci, sizeof(ci)) != SECSuccess)
		return (SG_ETLS);
	version_name(info->version, sizeof(info->version), ci.protocolVersion);
	if (SSL_GetCipherSuiteInfo(ci.cipherSuite, &si, sizeof(si)) == SECSuccess)
		snprintf(info->cipher, sizeof(info->cipher), "%s", si.cipherSuiteName);
	info->resumed = ci.resumed;
	peer_subject(t, info->peer_subject, sizeof(info->peer_subject));
	sni_name(t, info->sni, sizeof(info->sni));
	return (0);
}

int	certs_tls_peer(const struct certs_tls *t, struct certs_tls_peer *p)
{
	*p = t->peer;
	if (t->server)
		return (SG_EINVAL);
	return (t->done ? 0 : SG_EAGAIN);
}

PRFileDesc *certs_tls_nssfd(const struct certs_tls *t)
{
	return (t->done && !t->server ? t->fd : NULL);
}
