"""Tables, one module per aggregate; importing this package registers every table."""

from core.categories import Category
from models.base import UTCDateTime, utcnow
from models.bookings import Booking, BookingOrder, BookingStatus
from models.communications import Communication
from models.definitions import ConfigVersion, Execution, TaskDefinition
from models.documents import Document, DocumentType
from models.drops import DropStatus, InboxDrop
from models.heartbeats import Heartbeat
from models.invoices import Invoice, InvoiceKind, InvoiceStatus
from models.mailboxes import Mailbox, SmtpSecurity
from models.orders import Order, OrderStatus
from models.parties import KNOWN_ROLES, Contact, ContactRole, Party, PartyKind, Role
from models.status_history import StatusChange
from models.tasks import FINISHED_STATUSES, Task, TaskEvent, TaskStatus
from models.tokens import ApiToken, Scope
from models.trips import StopKind, Trip, TripContact, TripOrder, TripStatus, TripStop
from models.users import Team, TeamMember, User

__all__ = [
    "KNOWN_ROLES",
    "ApiToken",
    "FINISHED_STATUSES",
    "Booking",
    "BookingOrder",
    "BookingStatus",
    "Category",
    "Communication",
    "ConfigVersion",
    "Contact",
    "ContactRole",
    "Document",
    "DocumentType",
    "DropStatus",
    "Execution",
    "Heartbeat",
    "InboxDrop",
    "Invoice",
    "InvoiceKind",
    "InvoiceStatus",
    "Mailbox",
    "Order",
    "OrderStatus",
    "Party",
    "PartyKind",
    "Role",
    "Scope",
    "SmtpSecurity",
    "StatusChange",
    "StopKind",
    "Task",
    "TaskDefinition",
    "TaskEvent",
    "TaskStatus",
    "Team",
    "TeamMember",
    "Trip",
    "TripContact",
    "TripOrder",
    "TripStatus",
    "TripStop",
    "User",
    "UTCDateTime",
    "utcnow",
]
