/* server.c: `calc-server PORT` answers GET /eval?EXPR on 127.0.0.1 with the value of
 * EXPR (URL-encoded: %2B for '+'), and GET /health with "ok". One request at a time. */
#include "calc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void url_decode(char *s)
{
	char *out = s;
	for (; *s; s++) {
		if (*s == '%' && s[1] && s[2]) {
			char hex[3] = {s[1], s[2], 0};
			*out++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

static void reply(int fd, int status, const char *body)
{
	char head[128];
	int n = snprintf(head, sizeof(head), "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
			 status, status == 200 ? "OK" : "Bad Request", strlen(body));
	if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
		perror("write");
}

static void serve(int fd)
{
	char req[2048];
	ssize_t n = read(fd, req, sizeof(req) - 1);
	if (n <= 0)
		return;
	req[n] = '\0';
	char path[1024];
	if (sscanf(req, "GET %1023s", path) != 1) {
		reply(fd, 400, "bad request\n");
		return;
	}
	if (!strcmp(path, "/health")) {
		reply(fd, 200, "ok\n");
		return;
	}
	if (strncmp(path, "/eval?", 6) != 0) {
		reply(fd, 400, "try /eval?EXPR\n");
		return;
	}
	url_decode(path + 6);
	long v;
	const char *error;
	char body[128];
	if (calc_eval(path + 6, &v, &error) < 0) {
		snprintf(body, sizeof(body), "error: %s\n", error);
		reply(fd, 400, body);
		return;
	}
	snprintf(body, sizeof(body), "%ld\n", v);
	reply(fd, 200, body);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: calc-server PORT\n");
		return 2;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		perror("calc-server: listen");
		return 1;
	}
	fprintf(stderr, "calc-server: listening on 127.0.0.1:%s\n", argv[1]);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		serve(c);
		close(c);
	}
}
