/*
 * NAME
 *	fuzz_conf 1
 * SUMMARY
 *	libFuzzer target: the whole configuration loader (sealgate_conf_load)
 * DESCRIPTION
 *	The input is written to a file in a directory of the process's own
 *	and loaded the way sealgated and sealctl load a configuration:
 *	libconfig, then every section's table with its checks, then the raw
 *	text scanner (sg_conf_scan) for what libconfig silently changes. A
 *	configuration that loads is printed with every key (what sealctl
 *	config show --all does); one that does not must say why, one
 *	"FILE:LINE: message" per line. Inputs that ask for @include are
 *	skipped: they would read whatever file they name, which is not the
 *	loader's behaviour under test.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmd/sealgate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static char dir[] = "/tmp/fuzz_conf.XXXXXX";
static char path[256];
static FILE *devnull;

/* cleanup - the file and its directory go when the fuzzer exits */

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/sealgate.conf", dir);
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	atexit(cleanup);
}

static bool asks_include(const uint8_t *data, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (data[i] == '@' && len - i - 1 >= 7 && strncasecmp((const char *) data + i + 1,
								      "include", 7) == 0)
			return (true);
	return (false);
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct sg_buf errors = SG_BUF_INIT;
	struct sealgate_conf *c;
	FILE   *fp;

	if (path[0] == 0)
		setup();
	if (asks_include(data, len) || (fp = fopen(path, "w")) == NULL)
		return (0);
	if (len && fwrite(data, 1, len, fp) != len)
		abort();
	fclose(fp);
	if ((c = sealgate_conf_load(path, &errors)) != NULL) {
		if (c->main.state_dir == NULL || *c->main.state_dir == 0 || errors.len != 0)
			abort();
		sealgate_conf_print(c, true, devnull);
		sealgate_conf_print(c, false, devnull);
		sealgate_conf_free(c);
	} else if (errors.len == 0 || errors.data[errors.len - 1] != '\n') {
		abort();
	}
	sg_buf_free(&errors);
	return (0);
}
