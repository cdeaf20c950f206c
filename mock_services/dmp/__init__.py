"""DMP mock: DMPi over SOAP 1.2 with IHE XDS.b (ITI-41/18/43/57), MTOM and the VIHF token."""

from mock_services.dmp.app import create_app
from mock_services.dmp.messages import FaultTable
from mock_services.dmp.patients import PatientBase
from mock_services.dmp.registry import DmpRegistry
from mock_services.dmp.settings import DmpSettings

__all__ = ["DmpRegistry", "DmpSettings", "FaultTable", "PatientBase", "create_app"]
