/*
 * Who may use the HTTP endpoint (http_auth_type): anyone (none), a user of the auth_file
 * sending its password by HTTP basic authentication (auth_file), or whoever sends
 * http_auth_token as a Bearer token (token). Works on the Authorization header's text,
 * so it knows nothing of evhttp.
 */
#ifndef PGSPLIT_HTTP_AUTH_H
#define PGSPLIT_HTTP_AUTH_H

#include "authfile.h"
#include "config.h"

/* False with err when http_auth_type names something the configuration lacks. */
bool http_auth_settings_check(const Config *cfg, char *err, size_t errlen) MUST_CHECK;

/* Does the Authorization header (NULL when absent) let its sender in under cfg? */
bool http_auth_allows(const char *authorization, const Config *cfg, const AuthFile *af);

/* The WWW-Authenticate value of a 401 answer under cfg. */
const char *http_auth_challenge(const Config *cfg);

#endif
