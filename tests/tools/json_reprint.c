/* json_reprint FILE...: does each file hold exactly what cJSON_Print makes of its own
 * parse, plus a newline? statement.json is written piece by piece (executor/verdict.c)
 * to look as if the whole tree had been printed; this checks it on the integration tests'
 * real statements. Prints one line per file that differs; exit 1 if any does. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			printf("%s: cannot open\n", argv[i]);
			bad = 1;
			continue;
		}
		size_t cap = 1 << 16, n = 0;
		char *data = malloc(cap);
		for (size_t got; data && (got = fread(data + n, 1, cap - n - 1, f)) > 0;) {
			n += got;
			if (n + 1 == cap)
				data = realloc(data, cap *= 2);
		}
		fclose(f);
		if (!data)
			return 2;
		data[n] = '\0';
		cJSON *json = cJSON_ParseWithLength(data, n);
		char *again = json ? cJSON_Print(json) : NULL;
		size_t len = again ? strlen(again) : 0;
		if (!again || n != len + 1 || memcmp(data, again, len) || data[len] != '\n') {
			printf("%s: not as cJSON prints it (%zu bytes, reprinted %zu + 1)\n", argv[i], n, len);
			bad = 1;
		}
		cJSON_free(again);
		cJSON_Delete(json);
		free(data);
	}
	return bad;
}
