/*
 * NAME
 *	queue_wake 3
 * SUMMARY
 *	wake-ups between roles: one datagram on a Unix socket
 * SYNOPSIS
 *	#include "queue/queue.h"
 *
 *	void	queue_wake(q, role)
 *	int	queue_wake_listen(q, role, fdp)
 *	void	queue_wake_drain(fd)
 * DESCRIPTION
 *	The consumer binds STATE_DIR/wake.ROLE as a datagram socket; a
 *	producer sends one byte to it after a commit that gives it work.
 *	Sending never blocks and every failure is ignored: the consumer
 *	also polls on a timer, so a lost wake-up costs latency, not mail.
 *	Many wake-ups before the consumer looks collapse into one drain.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "queue_int.h"

static void wake_addr(struct queue *q, enum queue_role role, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, q->wake_path[role == QUEUE_ROLE_DELIVERY],
	       sizeof(sun->sun_path) - 1);
}

void	queue_wake(struct queue *q, enum queue_role role)
{
	struct sockaddr_un sun;
	char	c = 'w';

	if (q->wake_fd < 0 || q->wake_path[role == QUEUE_ROLE_DELIVERY][0] == 0)
		return;
	wake_addr(q, role, &sun);
	(void) sendto(q->wake_fd, &c, 1, MSG_DONTWAIT, (struct sockaddr *) &sun, sizeof(sun));
}

int	queue_wake_listen(struct queue *q, enum queue_role role, int *fdp)
{
	struct sockaddr_un sun;
	int	fd, err;

	*fdp = -1;
	if (q->wake_path[role == QUEUE_ROLE_DELIVERY][0] == 0)
		return (SG_ELIMIT);	/* state_dir too long for a socket name */
	wake_addr(q, role, &sun);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return (SG_EIO);
	(void) unlink(sun.sun_path);	/* left by a previous run of this role */
	if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0) {
		err = errno == EACCES ? SG_EDENIED : SG_EIO;
		close(fd);
		return (err);
	}
	/* producers are other roles, maybe under the configured user: sending a
	 * datagram needs write permission on the socket */
	(void) chmod(sun.sun_path, 0660);
	if (q->owner_uid != (uid_t) -1 && chown(sun.sun_path, q->owner_uid, q->owner_gid) != 0)
		sg_warn("event=wake_chown_failed path=\"%s\"", sun.sun_path);
	*fdp = fd;
	return (0);
}

void	queue_wake_drain(int fd)
{
	char	buf[64];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		continue;
}
