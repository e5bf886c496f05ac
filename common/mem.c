/*
 * NAME
 *	mem 3
 * SUMMARY
 *	allocation that never fails, growing buffers, arenas
 * SYNOPSIS
 *	#include "common/sg.h"
 *
 *	void   *sg_xmalloc(size)
 *	void	sg_buf_append(buf, data, len)
 *	void	sg_buf_json(buf, s, len)
 *	struct sg_arena *sg_arena_new(void)
 * DESCRIPTION
 *	sg_x*() allocate or exit through sg_fatal(): callers never test for
 *	NULL. An sg_buf keeps len bytes plus a NUL that is not counted, so
 *	its data can be used as a C string when it holds text.
 *
 *	sg_buf_json() appends len bytes of untrusted text as a JSON string:
 *	well-formed UTF-8 as it is, quote and backslash escaped, every other
 *	byte below 0x20 or from 0x7f up as \u00XX, so that the output is
 *	valid JSON whatever came in. (sealctl's listing has a faster copy of
 *	these rules, sealctl_out_json(), checked against this one by
 *	tests/unit/test_json.c.)
 *
 *	An arena hands out zeroed, aligned blocks from large chunks and frees
 *	them all at once: the config and other many-small-pieces structures
 *	use it so that no field needs its own free.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg.h"

void   *sg_xmalloc(size_t n)
{
	void   *p = malloc(n ? n : 1);

	if (p == NULL)
		sg_fatal("event=oom size=%zu", n);
	return (p);
}

void   *sg_xcalloc(size_t n, size_t m)
{
	void   *p = calloc(n ? n : 1, m ? m : 1);

	if (p == NULL)
		sg_fatal("event=oom size=%zux%zu", n, m);
	return (p);
}

void   *sg_xrealloc(void *p, size_t n)
{
	void   *q = realloc(p, n ? n : 1);

	if (q == NULL)
		sg_fatal("event=oom size=%zu", n);
	return (q);
}

char   *sg_xstrdup(const char *s)
{
	return (sg_xmemdup(s, strlen(s) + 1));
}

char   *sg_xstrndup(const char *s, size_t n)
{
	char   *p = sg_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return (p);
}

void   *sg_xmemdup(const void *s, size_t n)
{
	void   *p = sg_xmalloc(n);

	memcpy(p, s, n);
	return (p);
}

/* sg_buf_reserve - make room for extra bytes plus the NUL */

void	sg_buf_reserve(struct sg_buf *b, size_t extra)
{
	size_t	need;

	if (extra > SIZE_MAX / 2 - b->len)
		sg_panic("event=buf_overflow len=%zu extra=%zu", b->len, extra);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t	cap = b->cap ? b->cap : 64;

	while (cap < need)
		cap *= 2;
	b->data = sg_xrealloc(b->data, cap);
	b->cap = cap;
}

void	sg_buf_append(struct sg_buf *b, const void *p, size_t n)
{
	sg_buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

void	sg_buf_puts(struct sg_buf *b, const char *s)
{
	sg_buf_append(b, s, strlen(s));
}

void	sg_buf_putc(struct sg_buf *b, int c)
{
	char	ch = (char) c;

	sg_buf_append(b, &ch, 1);
}

void	sg_buf_vprintf(struct sg_buf *b, const char *fmt, va_list ap)
{
	va_list	aq;
	int	n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		sg_panic("event=bad_format fmt=%s", fmt);
	sg_buf_reserve(b, (size_t) n);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	b->len += (size_t) n;
}

void	sg_buf_printf(struct sg_buf *b, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	sg_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void	sg_buf_json(struct sg_buf *b, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *) str;
	size_t	k;

	sg_buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 0x80 && (k = sg_utf8_len(s + i, len - i)) > 0) {
			sg_buf_append(b, s + i, k);
			i += k - 1;
		} else if (s[i] == '"' || s[i] == '\\') {
			sg_buf_putc(b, '\\');
			sg_buf_putc(b, s[i]);
		} else if (s[i] < 0x20 || s[i] >= 0x7f) {
			char	u[6] = {'\\', 'u', '0', '0', hex[s[i] >> 4], hex[s[i] & 15]};

			sg_buf_append(b, u, sizeof(u));
		} else {
			sg_buf_putc(b, s[i]);
		}
	}
	sg_buf_putc(b, '"');
}

/* sg_buf_consume - drop n bytes from the front */

void	sg_buf_consume(struct sg_buf *b, size_t n)
{
	if (n >= b->len) {
		sg_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = 0;
}

void	sg_buf_reset(struct sg_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

void	sg_buf_free(struct sg_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Arena: a list of chunks; big requests get a chunk of their own. */

#define ARENA_CHUNK 8192
#define ARENA_ALIGN 16

struct arena_chunk {
	struct arena_chunk *next;
	size_t	used;
	size_t	size;
	_Alignas(ARENA_ALIGN) unsigned char mem[];
};

struct sg_arena {
	struct arena_chunk *head;
};

struct sg_arena *sg_arena_new(void)
{
	return (sg_xcalloc(1, sizeof(struct sg_arena)));
}

void   *sg_arena_alloc(struct sg_arena *a, size_t n)
{
	struct arena_chunk *c = a->head;

	n = (n + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
	if (c == NULL || c->size - c->used < n) {
		size_t	size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = sg_xcalloc(1, sizeof(*c) + size);
		c->size = size;
		c->next = a->head;
		a->head = c;
	}
	void   *p = c->mem + c->used;

	c->used += n;
	return (p);
}

char   *sg_arena_strndup(struct sg_arena *a, const char *s, size_t n)
{
	char   *p = sg_arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return (p);
}

char   *sg_arena_strdup(struct sg_arena *a, const char *s)
{
	return (sg_arena_strndup(a, s, strlen(s)));
}

void	sg_arena_free(struct sg_arena *a)
{
	if (a == NULL)
		return;
	for (struct arena_chunk *c = a->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}
