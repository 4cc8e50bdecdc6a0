/* serve_line.c: what a request line of `shipgate serve` must be before it is parsed,
 * and replies that are always valid JSON (serve.h; pure, tested in test_serve_request).
 *
 * cJSON takes bytes as they come: it would keep invalid UTF-8 in a string (and the
 * daemon echo it back, making its reply invalid JSON), and it decodes an escaped NUL
 * (\u0000) into a C string that then ends there ("job-8\u0000xyz" is "job-8"). Both
 * are refused on the raw line, before cJSON sees it.
 */
#include "serve.h"
#include "evidence.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

bool sg_serve_utf8_valid(const char *s, size_t len, size_t *bad_at)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = sg_utf8_seq_len(p + i, len - i);
		if (!n) {
			if (bad_at)
				*bad_at = i;
			return false;
		}
		i += n;
	}
	return true;
}

int sg_serve_request_line_check(const char *line, size_t len, sg_error *err)
{
	if (memchr(line, '\0', len))
		return sg_error_set(err, SG_ERR_INPUT, 0, "a NUL byte in the request: a request is one JSON object on one line");
	size_t bad;
	if (!sg_serve_utf8_valid(line, len, &bad))
		return sg_error_set(err, SG_ERR_INPUT, 0, "the request is not valid UTF-8 (at byte %zu)", bad);
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '"') {
			in_string = !in_string;
		} else if (in_string && line[i] == '\\') {
			/* an escape: \u0000 would end the string where cJSON stores it */
			if (i + 5 < len && line[i + 1] == 'u' && !memcmp(line + i + 2, "0000", 4))
				return sg_error_set(err, SG_ERR_INPUT, 0,
						    "an escaped NUL (\\u0000) in a string of the request, at byte %zu", i);
			i++; /* the escaped character: \" and \\ neither end nor escape */
		}
	}
	return 0;
}

void sg_serve_json_sanitize(struct cJSON *item)
{
	for (cJSON *m = item; m; m = m->next) {
		if (cJSON_IsString(m) && m->valuestring && !sg_serve_utf8_valid(m->valuestring, strlen(m->valuestring), NULL)) {
			char *clean = sg_utf8_sanitize(m->valuestring, strlen(m->valuestring));
			char *copy = cJSON_malloc(strlen(clean) + 1);
			if (copy) {
				memcpy(copy, clean, strlen(clean) + 1);
				cJSON_free(m->valuestring);
				m->valuestring = copy;
			}
			free(clean);
		}
		if (m->child)
			sg_serve_json_sanitize(m->child);
	}
}
