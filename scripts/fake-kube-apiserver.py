#!/usr/bin/env python3
"""A small stand-in for kube-apiserver, for tests, the benchmark and the local demo.

It serves what kubetrail and kubectl ask for (see ../shared/reference/kubernetes-api.md §8):
legacy discovery, lists with labelSelector / limit / continue (as a Table when asked), single
pods, watches, and pod logs with an RFC 3339 nano timestamp prefix, `follow`, `sinceTime`,
`sinceSeconds`, `tailLines` and `container`.

State lives in a directory the caller changes while the server runs:
  pods/<namespace>_<name>.json        one Pod object each
  events/<anything>.json              one core/v1 Event each
  logs/<ns>_<pod>_<container>.log     lines "<RFC3339Nano> <text>" (what the kubelet would serve)
  logs/<ns>_<pod>_<container>.previous.log  the log of the instance before (previous=true)
  logs/<ns>_<pod>_<container>.stopped the container instance ended: a followed stream finishes
  logs/<ns>_<pod>_<container>.waiting the container is not running: log requests get 400
Every request is appended to requests.jsonl in that directory.

--bench N serves N generated pods and N events in lists, and watches that stream N more of
each, for `kubetrail-bench watch`.
"""
import argparse, http.server, json, os, socketserver, ssl, sys, time, urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument('--state', required=True)
parser.add_argument('--port', type=int, default=0)
parser.add_argument('--tls', nargs=2, metavar=('CERT', 'KEY'))
parser.add_argument('--token', help='require this bearer token (TLS only, as kubectl sends none over http)')
parser.add_argument('--bench', type=int, default=0)
parser.add_argument('--forbid', action='append', default=[], help='answer 403 to lists of this resource (RBAC denial)')
parser.add_argument('--unserved', action='append', default=[], help='answer 404 to this resource of a named API group (a kind the cluster lacks)')
args = parser.parse_args()
state = args.state
os.makedirs(os.path.join(state, 'logs'), exist_ok=True)
request_log = open(os.path.join(state, 'requests.jsonl'), 'a')

CORE = [('pods', 'Pod', True), ('events', 'Event', True), ('namespaces', 'Namespace', False), ('nodes', 'Node', False),
        ('services', 'Service', True), ('configmaps', 'ConfigMap', True), ('secrets', 'Secret', True),
        ('serviceaccounts', 'ServiceAccount', True), ('persistentvolumes', 'PersistentVolume', False),
        ('persistentvolumeclaims', 'PersistentVolumeClaim', True)]


def read_objects(kind_dir):
    d = os.path.join(state, kind_dir)
    out = []
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if name.endswith('.json'):
            try:
                with open(os.path.join(d, name)) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                pass   # a file being written; the next request sees it
    return out


def bench_pod(i):
    return {'apiVersion': 'v1', 'kind': 'Pod',
            'metadata': {'name': 'bench-%d' % i, 'namespace': 'bench-%d' % (i % 50), 'uid': 'pod-uid-%d' % i,
                         'resourceVersion': str(1000 + i), 'creationTimestamp': '2026-11-27T10:00:00Z',
                         'labels': {'app': 'bench', 'shard': str(i % 16)}},
            'spec': {'nodeName': 'node-%d' % (i % 20), 'containers': [{'name': 'app', 'image': 'registry.example/app:1.%d' % (i % 7)}]},
            'status': {'phase': 'Running', 'podIP': '10.%d.%d.%d' % (i >> 16 & 255, i >> 8 & 255, i & 255), 'qosClass': 'Burstable',
                       'containerStatuses': [{'name': 'app', 'restartCount': i % 3, 'ready': True,
                                              'containerID': 'containerd://%064x' % i}]}}


def bench_event(i):
    return {'apiVersion': 'v1', 'kind': 'Event',
            'metadata': {'name': 'bench-%d.%x' % (i, i), 'namespace': 'bench-%d' % (i % 50), 'uid': 'event-uid-%d' % i,
                         'resourceVersion': str(1000 + i)},
            'involvedObject': {'kind': 'Pod', 'name': 'bench-%d' % i, 'namespace': 'bench-%d' % (i % 50), 'uid': 'pod-uid-%d' % i},
            'reason': 'BackOff' if i % 5 == 0 else 'Pulled', 'message': 'Back-off restarting failed container app', 'type': 'Warning' if i % 5 == 0 else 'Normal',
            'count': 1 + i % 9, 'firstTimestamp': '2026-11-27T10:00:00Z', 'lastTimestamp': '2026-11-27T10:%02d:00Z' % (i % 60),
            'source': {'component': 'kubelet', 'host': 'node-%d' % (i % 20)}}


bench_lists = {}
bench_encoded = {}


def encoded(resource):
    """The bench collection's objects as JSON bytes, encoded once: the server must not be the
    bottleneck of what it measures."""
    if resource not in bench_encoded:
        bench_encoded[resource] = [json.dumps(o, separators=(',', ':')).encode() for o in collection(resource)]
    return bench_encoded[resource]


def collection(resource):
    if args.bench and resource in ('pods', 'events'):
        if resource not in bench_lists:   # built once: every page of a paginated list slices it
            make = bench_pod if resource == 'pods' else bench_event
            bench_lists[resource] = [make(i) for i in range(args.bench)]
        return bench_lists[resource]
    if resource == 'pods':
        return read_objects('pods')
    if resource == 'events':
        return read_objects('events')
    if resource == 'namespaces':
        names = sorted({p['metadata'].get('namespace', 'default') for p in read_objects('pods')})
        return [{'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': n, 'uid': 'ns-' + n, 'resourceVersion': '1'}} for n in names]
    return []


def matches(obj, namespace, selector):
    meta = obj.get('metadata', {})
    if namespace and meta.get('namespace') != namespace:
        return False
    labels = meta.get('labels') or {}
    for term in filter(None, (selector or '').split(',')):
        key, _, value = term.partition('=')
        if labels.get(key) != value.lstrip('='):
            return False
    return True


def table(items, resource):
    rows = []
    for o in items:
        meta = o.get('metadata', {})
        if resource == 'pods':
            cells = [meta.get('name'), o.get('status', {}).get('phase', '')]
        elif resource == 'events':
            cells = [meta.get('name'), o.get('reason', ''), o.get('message', '')]
        else:
            cells = [meta.get('name'), '']
        rows.append({'cells': cells, 'object': {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1', 'metadata': meta}})
    second = {'pods': 'Status', 'events': 'Reason'}.get(resource, 'Info')
    columns = [{'name': 'Name', 'type': 'string', 'format': 'name'}, {'name': second, 'type': 'string'}]
    if resource == 'events':
        columns.append({'name': 'Message', 'type': 'string'})
    return {'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1', 'metadata': {'resourceVersion': '100'}, 'columnDefinitions': columns, 'rows': rows}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        request_log.write(json.dumps({'path': self.path, 'accept': self.headers.get('Accept'),
                                      'auth': bool(self.headers.get('Authorization'))}) + '\n')
        request_log.flush()
        if args.token and self.headers.get('Authorization') != 'Bearer ' + args.token:
            return self.status(401, 'Unauthorized', 'Unauthorized')
        parts = [p for p in url.path.split('/') if p]
        if url.path == '/version':
            return self.json(200, {'major': '1', 'minor': '32', 'gitVersion': 'v1.32.0-kubetrail-fake'})
        if url.path == '/api':
            return self.json(200, {'kind': 'APIVersions', 'versions': ['v1']})
        if url.path == '/apis':
            return self.json(200, {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': []})
        if url.path == '/api/v1':
            resources = [{'name': r, 'singularName': k.lower(), 'namespaced': ns, 'kind': k, 'verbs': ['get', 'list', 'watch']} for r, k, ns in CORE]
            resources.append({'name': 'pods/log', 'singularName': '', 'namespaced': True, 'kind': 'Pod', 'verbs': ['get']})
            return self.json(200, {'kind': 'APIResourceList', 'groupVersion': 'v1', 'resources': resources})
        namespace = None
        if parts[:3] == ['api', 'v1', 'namespaces'] and len(parts) >= 5:
            namespace, rest = parts[3], parts[4:]
        elif parts[:2] == ['api', 'v1'] and len(parts) == 3:
            rest = parts[2:]
        elif parts[:1] == ['apis'] and len(parts) >= 4:
            if parts[-1] in args.unserved:
                return self.status(404, 'NotFound', 'the server could not find the requested resource')
            return self.list_or_watch([], parts[-1], q)   # named groups: empty collections
        else:
            return self.status(404, 'NotFound', 'the server could not find the requested resource')
        resource = rest[0]
        if resource in args.forbid and len(rest) == 1:
            return self.status(403, 'Forbidden', '%s is forbidden: User "system:serviceaccount:kubetrail:kubetrail" cannot list resource "%s" in API group "" in the namespace "%s"' % (resource, resource, namespace or ''))
        if len(rest) == 1:
            if args.bench and resource in ('pods', 'events'):
                return self.list_or_watch(None, resource, q)   # served from the encoded cache, unfiltered
            items = [o for o in collection(resource) if matches(o, namespace, q.get('labelSelector'))]
            return self.list_or_watch(items, resource, q)
        if resource == 'pods' and len(rest) in (2, 3):
            pod = next((p for p in collection('pods') if matches(p, namespace, None) and p['metadata']['name'] == rest[1]), None)
            if pod is None:
                return self.status(404, 'NotFound', 'pods "%s" not found' % rest[1])
            if len(rest) == 2:
                return self.json(200, pod)
            if rest[2] == 'log':
                return self.log(pod, q)
        self.status(404, 'NotFound', 'the server could not find the requested resource')

    def list_or_watch(self, items, resource, q):
        if q.get('watch') in ('true', '1'):
            return self.watch(resource, q)
        limit = int(q.get('limit', '0') or 0)
        start = int(q['continue']) if q.get('continue') else 0
        if args.bench and resource in ('pods', 'events') and 'as=Table' not in (self.headers.get('Accept') or ''):
            objs = encoded(resource)
            page = objs[start:start + limit] if limit else objs[start:]
            more = str(start + limit) if limit and start + limit < len(objs) else ''
            kind = 'PodList' if resource == 'pods' else 'EventList'
            body = (b'{"kind":"%s","apiVersion":"v1","metadata":{"resourceVersion":"100","continue":"%s"},"items":[' % (kind.encode(), more.encode())
                    + b','.join(page) + b']}')
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        page = items[start:start + limit] if limit else items[start:]
        more = str(start + limit) if limit and start + limit < len(items) else ''
        if 'as=Table' in (self.headers.get('Accept') or ''):
            body = table(page, resource)
            body['metadata']['continue'] = more
            return self.json(200, body)
        kind = resource[:1].upper() + resource[1:-1] + 'List'
        return self.json(200, {'kind': kind, 'apiVersion': 'v1', 'metadata': {'resourceVersion': '100', 'continue': more}, 'items': page})

    def watch(self, resource, q):
        self.begin_stream('application/json')
        if args.bench and resource in ('pods', 'events') and q.get('resourceVersion') == '100':
            key = 'watch-' + resource
            if key not in bench_encoded:
                make = bench_pod if resource == 'pods' else bench_event
                lines = [b'{"type":"ADDED","object":' + json.dumps(make(i), separators=(',', ':')).encode() + b'}\n'
                         for i in range(args.bench, 2 * args.bench)]
                bench_encoded[key] = [b''.join(lines[i:i + 200]) for i in range(0, len(lines), 200)]
            for chunk in bench_encoded[key]:
                self.chunk(chunk)
            self.chunk(json.dumps({'type': 'BOOKMARK', 'object': {'kind': 'Bookmark', 'metadata': {'resourceVersion': str(1000 + 2 * args.bench)}}}).encode() + b'\n')
        else:
            time.sleep(min(float(q.get('timeoutSeconds', '2')), 2.0))
        self.end_stream()

    def log(self, pod, q):
        meta = pod['metadata']
        containers = [c['name'] for c in pod.get('spec', {}).get('containers', [])]
        container = q.get('container') or (containers[0] if len(containers) == 1 else None)
        if container is None:
            return self.status(400, 'BadRequest', 'a container name must be specified for pod %s, choose one of: %s' % (meta['name'], containers))
        if container not in containers:
            return self.status(400, 'BadRequest', 'container %s is not valid for pod %s' % (container, meta['name']))
        base = os.path.join(state, 'logs', '%s_%s_%s' % (meta.get('namespace', 'default'), meta['name'], container))
        if os.path.exists(base + '.waiting'):
            return self.status(400, 'BadRequest', 'container "%s" in pod "%s" is waiting to start: ContainerCreating' % (container, meta['name']))
        logfile = base + '.log'
        if q.get('previous') == 'true':
            logfile = base + '.previous.log'
            if not os.path.exists(logfile):
                return self.status(400, 'BadRequest', 'previous terminated container "%s" in pod "%s" not found' % (container, meta['name']))
        since = None
        if q.get('sinceTime'):
            since = q['sinceTime'][:19]   # the kubelet gets it at second precision
        elif q.get('sinceSeconds'):
            since = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(time.time() - int(q['sinceSeconds'])))
        stamps = q.get('timestamps') == 'true'
        follow = q.get('follow') == 'true' and q.get('previous') != 'true'
        self.begin_stream('text/plain')
        offset = 0
        pending = b''
        first = True
        while True:
            try:
                with open(logfile, 'rb') as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:
                data = b''
            offset += len(data)
            pending += data
            lines = pending.split(b'\n')
            pending = lines.pop()
            if first and q.get('tailLines'):
                lines = lines[-int(q['tailLines']):] if int(q['tailLines']) else []
            first = False
            out = []
            for line in lines:
                ts, _, text = line.partition(b' ')
                if since and ts[:19].decode() < since:
                    continue
                out.append(line if stamps else text)
            if out:
                self.chunk(b'\n'.join(out) + b'\n')
            if not follow or (os.path.exists(base + '.stopped') and not data):
                break
            time.sleep(0.05)
        self.end_stream()

    def begin_stream(self, content_type):
        self.send_response(200)
        self.send_header('Content-Type', content_type)
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b'0\r\n\r\n')
        self.wfile.flush()

    def json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, message):
        self.json(code, {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                         'message': message, 'reason': reason, 'code': code})

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(('127.0.0.1', args.port), Handler)
if args.tls:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*args.tls)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
