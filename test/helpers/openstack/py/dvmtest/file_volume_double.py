"""TEST DOUBLE: a Cinder volume driver that keeps each volume as a sparse file.

Everything around it is the real Cinder (API, scheduler, volume manager,
database, state machine); only the storage is pretend. Cinder's bundled fake
driver cannot extend a volume, hence this one. initialize_connection hands
back the file's path (driver_volume_type 'local'); the test double of Nova
loop-attaches that file and makes the by-id link a hypervisor would.
"""
import os

from oslo_config import cfg
from oslo_utils import units

from cinder import interface
from cinder.volume import driver

OPTS = [cfg.StrOpt('file_volume_double_dir', help='where the sparse files go')]
cfg.CONF.register_opts(OPTS, group='backend_defaults')


@interface.volumedriver
class FileVolumeDouble(driver.VolumeDriver):
    VERSION = '1.0'
    CI_WIKI_NAME = 'none (test double)'

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(OPTS)
        self.dir = self.configuration.safe_get('file_volume_double_dir')

    def _path(self, volume):
        return os.path.join(self.dir, 'volume-%s' % volume['id'])

    def do_setup(self, context):
        os.makedirs(self.dir, exist_ok=True)

    def check_for_setup_error(self):
        pass

    def create_volume(self, volume):
        with open(self._path(volume), 'wb') as f:
            f.truncate(volume['size'] * units.Gi)

    def delete_volume(self, volume):
        try:
            os.unlink(self._path(volume))
        except FileNotFoundError:
            pass

    def extend_volume(self, volume, new_size):
        os.truncate(self._path(volume), new_size * units.Gi)

    def create_export(self, context, volume, connector):
        pass

    def ensure_export(self, context, volume):
        pass

    def remove_export(self, context, volume):
        pass

    def initialize_connection(self, volume, connector):
        return {'driver_volume_type': 'local', 'data': {'device_path': self._path(volume)}}

    def terminate_connection(self, volume, connector, **kwargs):
        pass

    def create_snapshot(self, snapshot):
        raise NotImplementedError()

    def delete_snapshot(self, snapshot):
        pass

    def create_volume_from_snapshot(self, volume, snapshot):
        raise NotImplementedError()

    def create_cloned_volume(self, volume, src_vref):
        raise NotImplementedError()

    def get_volume_stats(self, refresh=False):
        return {'volume_backend_name': 'filedouble', 'vendor_name': 'dvm test double',
                'driver_version': self.VERSION, 'storage_protocol': 'local',
                'total_capacity_gb': 1000, 'free_capacity_gb': 1000, 'reserved_percentage': 0,
                'QoS_support': False, 'thin_provisioning_support': True}
