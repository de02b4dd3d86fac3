package nginximport

import "strings"

// rule says what becomes of a directive the translator does not handle
// itself: ignored ("" importance: nothing is lost, the agent does it its
// own way) or dropped with an importance and the reason shown to the user.
type rule struct {
	imp    Importance
	reason string
}

var ignore = rule{}

func important(reason string) rule { return rule{Important, reason} }
func cosmetic(reason string) rule  { return rule{Cosmetic, reason} }

const (
	whyStatic  = "serves files from disk; the agent serves no files (put them behind a backend, or keep a static server behind the agent)"
	whyCache   = "responses were cached by nginx; the agent caches nothing, so the backend sees every request"
	whyLimit   = "a rate or connection limit; the agent has only limits.max_conns and max_conns_per_ip"
	whyAccess  = "access control; the agent has none: restrict access in the backend or a firewall"
	whyHeaders = "response headers are not changed by the agent"
	whyLog     = "the agent writes its own JSON access log (access_log in agent.yaml)"
	whyOther   = "a protocol the agent does not proxy (it proxies HTTP/1.1, HTTP/2 and WebSocket to HTTP(S) upstreams)"
)

// rules covers the directives the translator leaves to this table.
var rules = map[string]rule{
	// Process, events, files and logging: the agent's own business.
	"user": ignore, "worker_processes": ignore, "worker_rlimit_nofile": ignore, "worker_connections": ignore,
	"worker_cpu_affinity": ignore, "worker_priority": ignore, "worker_shutdown_timeout": ignore,
	"pid": ignore, "pcre_jit": ignore, "load_module": ignore, "events": ignore, "multi_accept": ignore,
	"use": ignore, "accept_mutex": ignore, "thread_pool": ignore, "env": ignore, "daemon": ignore,
	"master_process": ignore, "timer_resolution": ignore, "lock_file": ignore, "working_directory": ignore,
	"error_log": ignore, "access_log": cosmetic(whyLog), "log_format": ignore, "log_not_found": ignore,
	"log_subrequest": ignore, "open_log_file_cache": ignore, "rewrite_log": ignore,
	"sendfile": ignore, "sendfile_max_chunk": ignore, "tcp_nopush": ignore, "tcp_nodelay": ignore,
	"aio": ignore, "directio": ignore, "output_buffers": ignore, "postpone_output": ignore,
	"types_hash_max_size": ignore, "types_hash_bucket_size": ignore, "server_names_hash_bucket_size": ignore,
	"server_names_hash_max_size": ignore, "variables_hash_max_size": ignore, "variables_hash_bucket_size": ignore,
	"map_hash_max_size": ignore, "map_hash_bucket_size": ignore, "proxy_headers_hash_max_size": ignore,
	"proxy_headers_hash_bucket_size": ignore, "server_tokens": ignore, "types": ignore, "default_type": ignore,
	"charset": ignore, "charset_types": ignore, "source_charset": ignore, "override_charset": ignore,
	"include": ignore, "resolver": ignore, "resolver_timeout": ignore, "http2": ignore, "http2_max_concurrent_streams": ignore,
	"keepalive_requests": ignore, "keepalive_time": ignore, "reset_timedout_connection": ignore,
	"lingering_close": ignore, "lingering_time": ignore, "lingering_timeout": ignore,
	"client_body_buffer_size": ignore, "client_header_buffer_size": ignore, "client_body_temp_path": ignore,
	"client_body_in_file_only": ignore, "client_body_in_single_buffer": ignore, "large_client_header_buffers": ignore,
	"ignore_invalid_headers": ignore, "underscores_in_headers": ignore, "merge_slashes": ignore,
	"server_name_in_redirect": ignore, "port_in_redirect": ignore, "absolute_redirect": ignore,
	"open_file_cache": ignore, "open_file_cache_valid": ignore, "open_file_cache_min_uses": ignore, "open_file_cache_errors": ignore,
	"chunked_transfer_encoding": ignore, "msie_padding": ignore, "msie_refresh": ignore, "etag": ignore,
	"if_modified_since": ignore, "max_ranges": ignore, "disable_symlinks": ignore,
	// TLS: the agent uses Go's TLS defaults (1.2 and 1.3, modern ciphers).
	"ssl_protocols": ignore, "ssl_ciphers": ignore, "ssl_prefer_server_ciphers": ignore, "ssl_session_cache": ignore,
	"ssl_session_timeout": ignore, "ssl_session_tickets": ignore, "ssl_dhparam": ignore, "ssl_ecdh_curve": ignore,
	"ssl_buffer_size": ignore, "ssl_early_data": ignore, "ssl_conf_command": ignore, "ssl_password_file": ignore,
	"ssl_trusted_certificate": ignore, "ssl": ignore,
	"ssl_stapling":           cosmetic("OCSP stapling; the agent does not staple"),
	"ssl_stapling_verify":    ignore,
	"ssl_client_certificate": important("client certificates (mutual TLS); the agent does not ask for them"),
	"ssl_verify_client":      important("client certificates (mutual TLS); the agent does not ask for them"),
	"ssl_verify_depth":       ignore, "ssl_crl": ignore,
	// Proxying details the agent handles its own way.
	"proxy_http_version": ignore, "proxy_buffering": ignore, "proxy_buffers": ignore, "proxy_buffer_size": ignore,
	"proxy_busy_buffers_size": ignore, "proxy_max_temp_file_size": ignore, "proxy_temp_file_write_size": ignore,
	"proxy_temp_path": ignore, "proxy_request_buffering": ignore, "proxy_socket_keepalive": ignore,
	"proxy_next_upstream": ignore, "proxy_next_upstream_timeout": ignore, "proxy_ignore_client_abort": ignore,
	"proxy_send_timeout": ignore, "proxy_ssl_session_reuse": ignore, "proxy_ssl_protocols": ignore,
	"proxy_ssl_ciphers": ignore, "proxy_ssl_verify_depth": ignore, "proxy_set_body": important("the request body is replaced before proxying"),
	"proxy_intercept_errors": cosmetic("nginx replaced the backend's error pages with its own; the agent passes them through"),
	"proxy_hide_header":      cosmetic("headers of the backend's responses were hidden; the agent passes them"),
	"proxy_pass_header":      ignore,
	"proxy_ignore_headers":   ignore,
	"proxy_cookie_domain":    important("cookies from the backend were rewritten; the agent passes them unchanged"),
	"proxy_cookie_path":      important("cookies from the backend were rewritten; the agent passes them unchanged"),
	"proxy_cookie_flags":     important("cookies from the backend were rewritten; the agent passes them unchanged"),
	"proxy_bind":             cosmetic("the agent connects from the host's default source address"),
	"proxy_store":            important(whyCache),
	"proxy_method":           important("the request method was replaced before proxying"),
	"proxy_limit_rate":       cosmetic("the response rate was limited"),
	"proxy_cache":            important(whyCache), "proxy_cache_valid": ignore, "proxy_cache_key": ignore,
	"proxy_cache_bypass": ignore, "proxy_no_cache": ignore, "proxy_cache_use_stale": ignore, "proxy_cache_lock": ignore,
	"proxy_cache_methods": ignore, "proxy_cache_min_uses": ignore, "proxy_cache_background_update": ignore,
	"proxy_cache_revalidate": ignore, "proxy_cache_lock_timeout": ignore, "proxy_cache_path": cosmetic("a cache zone; nothing uses it once the proxy_cache that did is gone"),
	// Other protocols.
	"fastcgi_pass": important(whyOther), "uwsgi_pass": important(whyOther), "scgi_pass": important(whyOther),
	"grpc_pass": important(whyOther), "memcached_pass": important(whyOther),
	// Static files (judged in context: see static).
	"autoindex": important(whyStatic), "expires": cosmetic(whyHeaders), "add_header": cosmetic(whyHeaders),
	"more_set_headers": cosmetic(whyHeaders), "more_clear_headers": cosmetic(whyHeaders),
	// Compression.
	"gzip":      cosmetic("responses are not compressed by the agent (the backend may compress them itself)"),
	"gzip_vary": ignore, "gzip_proxied": ignore, "gzip_comp_level": ignore, "gzip_buffers": ignore,
	"gzip_http_version": ignore, "gzip_types": ignore, "gzip_min_length": ignore, "gzip_disable": ignore,
	"gzip_static": cosmetic(whyStatic), "brotli": cosmetic("responses are not compressed by the agent"),
	// Errors, rewriting of bodies, logging variables.
	"error_page":            cosmetic("custom error pages; the agent answers 502/503/504 with its own short page"),
	"recursive_error_pages": ignore,
	"sub_filter":            important("response bodies were rewritten; the agent passes them unchanged"),
	"sub_filter_once":       ignore, "sub_filter_types": ignore, "sub_filter_last_modified": ignore,
	"set":         cosmetic("a variable; it matters only to directives listed here"),
	"internal":    cosmetic("a location only for nginx's internal redirects"),
	"stub_status": cosmetic("nginx's status page; the agent's status is on its admin socket and metrics listener"),
	// Access and rate limits.
	"allow": important(whyAccess), "deny": important(whyAccess), "satisfy": ignore,
	"auth_basic":           important("HTTP basic authentication; the agent has none: protect this path in the backend"),
	"auth_basic_user_file": ignore,
	"auth_request":         important("authentication by subrequest; the agent has none: protect this path in the backend"),
	"auth_request_set":     ignore,
	"limit_req":            important(whyLimit), "limit_conn": important(whyLimit), "limit_rate": cosmetic("the response rate was limited"),
	"limit_rate_after": ignore, "limit_req_zone": cosmetic("a rate-limit zone; nothing uses it once limit_req is gone"),
	"limit_conn_zone":  cosmetic("a connection-limit zone; nothing uses it once limit_conn is gone"),
	"limit_req_status": ignore, "limit_conn_status": ignore, "limit_req_log_level": ignore, "limit_conn_log_level": ignore,
	"limit_except":      important("methods were restricted; the agent forwards every method"),
	"real_ip_header":    important("nginx took the client's address from a header sent by trusted proxies: list their networks under trusted_proxies"),
	"set_real_ip_from":  important("nginx took the client's address from a header sent by trusted proxies: list their networks under trusted_proxies"),
	"real_ip_recursive": ignore,
	"secure_link":       important(whyAccess), "secure_link_md5": ignore, "secure_link_secret": important(whyAccess),
	"valid_referers": important(whyAccess),
	"geo":            cosmetic("a variable by client address; it matters only to directives listed here"),
	"geoip_country":  ignore, "geoip_city": ignore,
	"split_clients": cosmetic("a variable; it matters only to directives listed here"),
	"mirror":        cosmetic("requests were mirrored to another location"),
	"ssi":           important("server-side includes in responses"),
	"perl":          important("embedded code"), "js_content": important("embedded code"), "js_import": ignore,
	"content_by_lua_block": important("embedded code"), "access_by_lua_block": important("embedded code"),
	"rewrite_by_lua_block": important("embedded code"), "header_filter_by_lua_block": important("embedded code"),
	"body_filter_by_lua_block": important("embedded code"), "mail": important("a mail proxy; the agent proxies HTTP and TCP only"),
}

// ruleFor returns the rule for a directive name; unknown directives are
// important below http (they may change what a request gets) and cosmetic
// above it.
func ruleFor(name string, inServer bool) rule {
	if r, ok := rules[name]; ok {
		return r
	}
	for _, p := range []string{"gzip_", "ssl_", "proxy_cache_", "proxy_ssl_", "open_file_cache"} {
		if strings.HasPrefix(name, p) {
			return ignore
		}
	}
	if inServer {
		return important("not known to the importer; check what it does before the cutover")
	}
	return cosmetic("not known to the importer")
}
