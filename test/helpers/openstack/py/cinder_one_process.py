# Test harness only: Cinder's API, scheduler and volume service in ONE
# process, so they can talk over oslo.messaging's in-process `fake:/`
# transport (no message broker). This is how Cinder's own functional tests run
# it. Started by test/helpers/openstack/cinder.ts with Debian's python3.
import sys

import eventlet

eventlet.monkey_patch()

# eventlet's patched threading and the original one disagree about the
# current thread unless they share the table of live threads.
import __original_module_threading as original_threading  # noqa: E402
import threading  # noqa: E402

original_threading.current_thread.__globals__['_active'] = threading._active

from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402
from oslo_service import service as oslo_service  # noqa: E402

from cinder import i18n  # noqa: E402

i18n.enable_lazy()
from cinder.common import config  # noqa: E402
from cinder import coordination, objects, rpc, service, version  # noqa: E402
from cinder.cmd import volume as volume_cmd  # noqa: E402  (registers backend_host)
from oslo_reports import opts as reports_opts  # noqa: E402

CONF = cfg.CONF
objects.register_all()
reports_opts.set_defaults(CONF)
CONF(sys.argv[1:], project='cinder', version=version.version_string())
config.set_middleware_defaults()
logging.setup(CONF, 'cinder')
coordination.COORDINATOR.start()
rpc.init(CONF)

launcher = oslo_service.ServiceLauncher(CONF)
CONF.register_opt(volume_cmd.host_opt, group='filedouble')
launcher.launch_service(service.Service.create(host=CONF.host + '@filedouble', service_name='filedouble',
                                               binary='cinder-volume', coordination=True))
launcher.launch_service(service.Service.create(binary='cinder-scheduler'))
launcher.launch_service(service.WSGIService('osapi_volume'), workers=1)
print('cinder: api, scheduler and volume service started', flush=True)
launcher.wait()
