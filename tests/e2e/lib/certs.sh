# Test certificates for the e2e tests (sourced; work in the current directory).
#   certs_ca                  ca.key/ca.pem: a P-256 root, valid two days
#   certs_leaf NAME SAN [rsa] NAME.key/NAME.pem signed by the root (SAN: "DNS:a,DNS:b")
#   certs_secret NAME CRT KEY a kubernetes.io/tls Secret in namespace e2e, on stdout

certs_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
		-out ca.pem -days 2 -subj /CN=sluice-e2e-ca 2>/dev/null
}

certs_leaf() {
	local kind=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	[ "${3:-}" = rsa ] && kind=(-newkey rsa:2048)
	openssl req "${kind[@]}" -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
	printf 'subjectAltName=%s\n' "$2" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile "$1.ext" -out "$1.pem" 2>/dev/null
}

certs_secret() {
	printf 'apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {name: %s, namespace: e2e}\ndata:\n  tls.crt: %s\n  tls.key: %s\n' \
		"$1" "$(base64 -w0 "$2")" "$(base64 -w0 "$3")"
}
