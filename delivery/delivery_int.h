#ifndef DELIVERY_INT_H
#define DELIVERY_INT_H

/*
 * NAME
 *	delivery_int 3h
 * SUMMARY
 *	internals of delivery/: resolver, connections, the agent's tables
 * SYNOPSIS
 *	#include "delivery_int.h"
 * DESCRIPTION
 *	Private to delivery/; no other folder includes it.
 */

#include <sys/socket.h>

#include "delivery.h"

/* resolve.c: c-ares on the agent's loop. */
struct dl_resolver;

struct dl_addr {
	char	host[256];		/* the name it came from */
	struct sockaddr_storage sa;	/* with the port set */
};

/* A resolution: status DELIVERY_OK with n >= 1 addresses, or TEMP/PERM. */
struct dl_hosts {
	int	status;
	char	enh[16];
	char	reason[320];
	size_t	n;
	struct dl_addr *v;		/* caller frees with dl_hosts_free */
};

/* cb owns result. Called later from the loop, or from dl_resolver_free(). */
typedef void (*dl_resolve_cb) (void *arg, struct dl_hosts *result);

int	dl_resolver_new(uv_loop_t *, const struct delivery_conf *, struct dl_resolver **);
void	dl_resolver_free(struct dl_resolver *);
void	dl_resolve_mx(struct dl_resolver *, const char *domain, unsigned port,
		      dl_resolve_cb, void *arg);
void	dl_resolve_hosts(struct dl_resolver *, const struct sg_strlist *hostports,
			 unsigned defport, dl_resolve_cb, void *arg);
void	dl_hosts_free(struct dl_hosts *);

/* conf_copy.c: the agent keeps its own copy of its configuration. */
struct delivery_conf *dl_conf_copy(const struct delivery_conf *, struct sg_arena *);

#endif
