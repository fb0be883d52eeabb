"""The CRM data model. Importing this package registers every table with the metadata."""

from crm.models.assignment import AssignmentCounter, AssignmentRule
from crm.models.audit import AuditEntry
from crm.models.call_outbox import CallResultDelivery
from crm.models.campaigns import Campaign
from crm.models.chain import DoNotCallEntry, LeadSubmission, SideEffect
from crm.models.consent import Channel, ConsentRecord, LegalBasis
from crm.models.deliveries import UnparseablePayload, WebhookDelivery
from crm.models.interactions import Direction, Interaction, InteractionKind
from crm.models.leads import Lead, LeadStatus, PossibleDuplicate, Priority
from crm.models.reports import Report, ReportDocument
from crm.models.scoring import ScoreHistory
from crm.models.sessions import UserSession
from crm.models.settings import AppSetting
from crm.models.users import Role, User
from crm.models.work import Appointment, AppointmentStatus, Task, TaskStatus

__all__ = [
    "AppSetting",
    "Appointment",
    "AssignmentCounter",
    "AssignmentRule",
    "AppointmentStatus",
    "AuditEntry",
    "CallResultDelivery",
    "Campaign",
    "Channel",
    "ConsentRecord",
    "Direction",
    "DoNotCallEntry",
    "LeadSubmission",
    "SideEffect",
    "Interaction",
    "InteractionKind",
    "Lead",
    "LeadStatus",
    "LegalBasis",
    "PossibleDuplicate",
    "Priority",
    "Report",
    "ReportDocument",
    "Role",
    "ScoreHistory",
    "Task",
    "TaskStatus",
    "UnparseablePayload",
    "User",
    "UserSession",
    "WebhookDelivery",
]
