/*
 * libFuzzer target for the configuration loader (config.h): the input is an INI file,
 * written to a private directory and loaded with config_load(). %include is kept but
 * tamed: every line mentioning it is rewritten to name a file inside that directory
 * (only [A-Za-z0-9._-] of the original name survive), so the loader can reach a few
 * prepared include files, cycles and missing files, but never a device, a FIFO or the
 * rest of the file system. A loaded snapshot is printed setting by setting, and every
 * reloadable setting must survive a SET of its own printed value unchanged.
 */
#include "fuzz_common.h"

#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define FUZZ_CONFIG_NAME_MAX 40 /* longest include name kept from the input */

static char fuzz_config_dir[256];
static char fuzz_config_input[300];

/* Include targets the input can name; written once per process. */
static const struct {
	const char *name;
	const char *text;
} fuzz_config_files[] = {
	{ "inc.ini", "[pgbouncer]\nlisten_port = 6433\n[databases]\nincdb = host=127.0.0.1 "
		     "replicas=127.0.0.2:5433\n" },
	{ "nest.ini", "%include inc.ini\n[users]\nnestuser = pool_size=2\n" },
	{ "loop.ini", "%include loop.ini\n" },
	{ "back.ini", "%include input.ini\n" },
	{ "bad.ini", "[pgbouncer]\nno_such_option = 1\n" },
	{ "empty.ini", "" },
};

static void fuzz_config_cleanup(void)
{
	char path[400];
	for (size_t i = 0; i < ARRAY_SIZE(fuzz_config_files); i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_config_dir, fuzz_config_files[i].name);
		unlink(path);
	}
	unlink(fuzz_config_input);
	rmdir(fuzz_config_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[400];
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	snprintf(fuzz_config_dir, sizeof(fuzz_config_dir), "%s/fuzz-config-%d",
		 tmp && *tmp ? tmp : "/tmp", (int)getpid());
	snprintf(fuzz_config_input, sizeof(fuzz_config_input), "%s/input.ini", fuzz_config_dir);
	if (mkdir(fuzz_config_dir, 0700) != 0) {
		perror(fuzz_config_dir);
		abort();
	}
	atexit(fuzz_config_cleanup);
	for (size_t i = 0; i < ARRAY_SIZE(fuzz_config_files); i++) {
		const char *text = fuzz_config_files[i].text;
		snprintf(path, sizeof(path), "%s/%s", fuzz_config_dir, fuzz_config_files[i].name);
		if (!fuzz_write_file(path, (const uint8_t *)text, strlen(text))) {
			perror(path);
			abort();
		}
	}
	return 0;
}

static bool fuzz_config_name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Append "%include <dir>/<name>" for a line whose %include starts at inc (line ends at end). */
static size_t fuzz_config_rewrite_include(char *out, const uint8_t *line, const uint8_t *inc,
					  const uint8_t *end)
{
	size_t n = 0, kept = 0;
	bool blank_prefix = true;

	for (const uint8_t *p = line; p < inc; p++)
		blank_prefix = blank_prefix && (*p == ' ' || *p == '\t');
	if (blank_prefix) {
		memcpy(out, line, (size_t)(inc - line));
		n = (size_t)(inc - line);
	}
	n += (size_t)sprintf(out + n, "%%include");
	const uint8_t *p = inc + 8;
	if (p < end && (*p == ' ' || *p == '\t'))
		n += (size_t)sprintf(out + n, " %s/", fuzz_config_dir);
	for (; p < end && kept < FUZZ_CONFIG_NAME_MAX; p++) {
		if (fuzz_config_name_char(*p)) {
			out[n++] = (char)*p;
			kept++;
		}
	}
	return n;
}

/*
 * The input with its %include lines tamed; *out_len is its length. The result is at
 * most size plus (dir length + 2) per line, so the buffer is sized for that.
 */
static char *fuzz_config_tame(const uint8_t *data, size_t size, size_t *out_len)
{
	size_t lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	char *out = xmalloc(size + lines * (strlen(fuzz_config_dir) + 4) + 1);
	size_t n = 0;
	const uint8_t *line = data, *stop = data + size;

	while (line < stop) {
		const uint8_t *nl = memchr(line, '\n', (size_t)(stop - line));
		const uint8_t *end = nl ? nl : stop;
		const uint8_t *inc = memmem(line, (size_t)(end - line), "%include", 8);
		if (inc) {
			n += fuzz_config_rewrite_include(out + n, line, inc, end);
		} else {
			memcpy(out + n, line, (size_t)(end - line));
			n += (size_t)(end - line);
		}
		if (nl)
			out[n++] = '\n';
		line = nl ? nl + 1 : stop;
	}
	*out_len = n;
	return out;
}

/* Print every setting, look a few names up, and round-trip the reloadable settings. */
static void fuzz_config_exercise(Config *cfg)
{
	char buf[600], again[600], err[200];

	FUZZ_CHECK(cfg->config_file != NULL);
	(void)config_find_database(cfg, "incdb");
	(void)config_find_database(cfg, cfg->databases ? cfg->databases->name : "x");
	(void)config_find_user(cfg, cfg->users ? cfg->users->name : "nestuser");
	(void)config_list_contains(cfg->admin_users, "admin");
	for (int i = 0; i < config_setting_count(); i++) {
		const ConfigSetting *s = config_setting_at(i);
		FUZZ_CHECK(config_setting_find(config_setting_name(s)) != NULL);
		config_setting_format(cfg, s, buf, sizeof(buf));
		if (!config_setting_reloadable(s) || strlen(buf) + 1 >= sizeof(buf))
			continue;
		FUZZ_CHECK(config_set(cfg, config_setting_name(s), buf, err, sizeof(err)));
		config_setting_format(cfg, s, again, sizeof(again));
		FUZZ_CHECK(strcmp(buf, again) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;
	char *text = fuzz_config_tame(data, size, &len);
	char *err = xmalloc(256);

	if (!fuzz_write_file(fuzz_config_input, (const uint8_t *)text, len)) {
		perror(fuzz_config_input);
		abort();
	}
	free(text);
	err[0] = '\0';
	Config *cfg = config_load(fuzz_config_input, err, 256);
	if (cfg) {
		fuzz_config_exercise(cfg);
		config_free(cfg);
	} else {
		FUZZ_CHECK(memchr(err, '\0', 256) != NULL && err[0] != '\0');
	}
	free(err);
	return 0;
}
