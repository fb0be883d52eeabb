"""The CRM data model. Importing this package registers every table with the metadata."""

from crm.models.api_keys import ApiKey
from crm.models.assignment import AssignmentCounter, AssignmentRule
from crm.models.audit import AuditEntry
from crm.models.billing import BillingAccount, Invoice, InvoiceCounter, Plan, StripeEventSeen, UsageEvent  # noqa: F401
from crm.models.calendars import CalendarBusy, CalendarConnection, CalendarEvent, CalendarFeedToken  # noqa: F401
from crm.models.call_outbox import CallResultDelivery
from crm.models.campaigns import Campaign
from crm.models.chain import DoNotCallEntry, LeadSubmission, SideEffect
from crm.models.companies import Branch, Company, user_branches
from crm.models.consent import Channel, ConsentRecord, LegalBasis
from crm.models.deals import Deal, DealStage, DealStatus, LostReason
from crm.models.deliveries import UnparseablePayload, WebhookDelivery
from crm.models.inbound import InboundCall as InboundCall
from crm.models.inbound import KnowledgeEntry as KnowledgeEntry
from crm.models.interactions import Direction, Interaction, InteractionKind
from crm.models.lead_sources import LeadSource
from crm.models.leads import Lead, LeadStatus, PossibleDuplicate, Priority
from crm.models.onboarding import OnboardingProgress as OnboardingProgress
from crm.models.onboarding import ProvisionedObject as ProvisionedObject
from crm.models.phone_numbers import PhoneNumber as PhoneNumber
from crm.models.privacy import PrivacyRequest, PrivacyRequestStep, RetentionPolicy, SuppressionEntry
from crm.models.provider_routes import ProviderRoute
from crm.models.report_rollups import InteractionRollup as InteractionRollup
from crm.models.reports import Report, ReportDocument
from crm.models.score_models import ScoreModel, ScoreModelStatus, ScoreTrainingRun  # noqa: F401
from crm.models.scoring import ScoreHistory
from crm.models.sessions import UserSession
from crm.models.settings import AppSetting
from crm.models.users import Role, User
from crm.models.work import Appointment, AppointmentStatus, Task, TaskStatus

__all__ = [
    "ApiKey",
    "LeadSource",
    "ProviderRoute",
    "AppSetting",
    "Appointment",
    "AssignmentCounter",
    "AssignmentRule",
    "AppointmentStatus",
    "AuditEntry",
    "CallResultDelivery",
    "Branch",
    "Campaign",
    "Company",
    "Channel",
    "ConsentRecord",
    "Deal",
    "DealStage",
    "DealStatus",
    "Direction",
    "LostReason",
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
    "PrivacyRequest",
    "PrivacyRequestStep",
    "RetentionPolicy",
    "SuppressionEntry",
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
    "user_branches",
]
