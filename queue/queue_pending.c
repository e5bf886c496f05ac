/*
 * NAME
 *	queue_pending 3
 * SUMMARY
 *	the first cut of the queue interface: every call answers SG_EUNSUPPORTED
 * SYNOPSIS
 *	#include "queue/queue.h"
 * DESCRIPTION
 *	Lets the other components link against queue/queue.h while the
 *	implementation files land; each function moves to its own file.
 */

#include <string.h>

#include "queue.h"

int	queue_open(const struct sg_conf_main *m, const struct queue_conf *c, int f, struct queue **q) { (void) m; (void) c; (void) f; *q = NULL; return (SG_EUNSUPPORTED); }
void	queue_close(struct queue *q) { (void) q; }
int	queue_body_read(struct queue *q, uint64_t id, enum queue_body_kind k, uint64_t off, void *buf, size_t len, size_t *got) { (void) q; (void) id; (void) k; (void) off; (void) buf; (void) len; (void) got; return (SG_EUNSUPPORTED); }
int	queue_body_foreach(struct queue *q, uint64_t id, enum queue_body_kind k, int (*fn) (const void *, size_t, void *), void *arg, enum queue_body_kind *w) { (void) q; (void) id; (void) k; (void) fn; (void) arg; (void) w; return (SG_EUNSUPPORTED); }
int	queue_spool(struct queue *q, const struct queue_env *e, const struct queue_body_src *b, uint64_t *id) { (void) q; (void) e; (void) b; (void) id; return (SG_EUNSUPPORTED); }
int	queue_committer_start(struct queue *q, struct queue_committer **c) { (void) q; *c = NULL; return (SG_EUNSUPPORTED); }
void	queue_submit(struct queue_committer *c, struct queue_req *r) { (void) c; r->done(r, SG_EUNSUPPORTED); }
void	queue_committer_stop(struct queue_committer *c) { (void) c; }
int	queue_get(struct queue *q, uint64_t id, int f, struct queue_env *e) { (void) q; (void) id; (void) f; (void) e; return (SG_EUNSUPPORTED); }
int	queue_scan(struct queue *q, int f, uint64_t *c, size_t p, int (*fn) (const struct queue_env *, void *), void *a) { (void) q; (void) f; (void) c; (void) p; (void) fn; (void) a; return (SG_EUNSUPPORTED); }
int	queue_claim(struct queue *q, const char *o, int64_t l, size_t m, uint64_t *ids, size_t *n) { (void) q; (void) o; (void) l; (void) m; (void) ids; *n = 0; return (SG_EUNSUPPORTED); }
int	queue_lease_renew(struct queue *q, uint64_t id, const char *o, int64_t l) { (void) q; (void) id; (void) o; (void) l; return (SG_EUNSUPPORTED); }
int	queue_complete(struct queue *q, uint64_t id, const char *o, const struct queue_part *p, size_t np, uint64_t *ni) { (void) q; (void) id; (void) o; (void) p; (void) np; (void) ni; return (SG_EUNSUPPORTED); }
int	queue_due(struct queue *q, int64_t now, int64_t l, size_t m, uint64_t *ids, size_t *n) { (void) q; (void) now; (void) l; (void) m; (void) ids; *n = 0; return (SG_EUNSUPPORTED); }
int	queue_next_due(struct queue *q, int64_t *w) { (void) q; (void) w; return (SG_EUNSUPPORTED); }
int	queue_record(struct queue *q, uint64_t id, const struct queue_result *r, size_t n, int64_t na, const char *route, bool *done) { (void) q; (void) id; (void) r; (void) n; (void) na; (void) route; (void) done; return (SG_EUNSUPPORTED); }
int	queue_track_prune(struct queue *q, int64_t a, size_t *n) { (void) q; (void) a; (void) n; return (SG_EUNSUPPORTED); }
int	queue_hold(struct queue *q, const uint64_t *ids, size_t n, const char *r, int *res, size_t *c) { (void) q; (void) ids; (void) n; (void) r; (void) res; (void) c; return (SG_EUNSUPPORTED); }
int	queue_release(struct queue *q, const uint64_t *ids, size_t n, int *res, size_t *c) { (void) q; (void) ids; (void) n; (void) res; (void) c; return (SG_EUNSUPPORTED); }
int	queue_delete(struct queue *q, const uint64_t *ids, size_t n, const char *r, int *res, size_t *c) { (void) q; (void) ids; (void) n; (void) r; (void) res; (void) c; return (SG_EUNSUPPORTED); }
int	queue_retry(struct queue *q, const uint64_t *ids, size_t n, int *res, size_t *c) { (void) q; (void) ids; (void) n; (void) res; (void) c; return (SG_EUNSUPPORTED); }
int	queue_quarantine(struct queue *q, uint64_t id) { (void) q; (void) id; return (SG_EUNSUPPORTED); }
int	queue_corrupt_count(struct queue *q, size_t *n) { (void) q; (void) n; return (SG_EUNSUPPORTED); }
int	queue_incident_add(struct queue *q, const struct queue_incident *i, uint64_t *id) { (void) q; (void) i; (void) id; return (SG_EUNSUPPORTED); }
int	queue_incident_get(struct queue *q, uint64_t id, struct queue_incident *i) { (void) q; (void) id; (void) i; return (SG_EUNSUPPORTED); }
void	queue_incident_free(struct queue_incident *i) { (void) i; }
int	queue_incident_list(struct queue *q, bool all, uint64_t *c, int (*fn) (const struct queue_incident *, void *), void *a) { (void) q; (void) all; (void) c; (void) fn; (void) a; return (SG_EUNSUPPORTED); }
int	queue_incident_ack(struct queue *q, uint64_t id, const char *by) { (void) q; (void) id; (void) by; return (SG_EUNSUPPORTED); }
int	queue_count(struct queue *q, enum queue_counter c, uint64_t d) { (void) q; (void) c; (void) d; return (SG_EUNSUPPORTED); }
int	queue_stats(struct queue *q, struct queue_stats *s) { (void) q; (void) s; return (SG_EUNSUPPORTED); }
void	queue_wake(struct queue *q, enum queue_role r) { (void) q; (void) r; }
int	queue_wake_listen(struct queue *q, enum queue_role r, int *fd) { (void) q; (void) r; *fd = -1; return (SG_EUNSUPPORTED); }
void	queue_wake_drain(int fd) { (void) fd; }
