"""Access-control tables: groups of users, grants of a permission on one experiment or
registered model to a user or a group, and team prefix grants (a group's default grant on
everything created under a name prefix).

Imported at the end of tables.py so that ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from runstone.store.tables import Base


class GroupRow(Base):
    __tablename__ = "user_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    creation_time: Mapped[int] = mapped_column(BigInteger)


class GroupMemberRow(Base):
    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class GrantRow(Base):
    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("resource_type", "resource_id", "principal_type", "principal_name", "permission"),
        Index("ix_grants_principal", "principal_type", "principal_name"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(20))  # experiment, model
    resource_id: Mapped[str] = mapped_column(String(256))  # experiment id, registered model name
    principal_type: Mapped[str] = mapped_column(String(10))  # user, group
    principal_name: Mapped[str] = mapped_column(String(256))
    permission: Mapped[str] = mapped_column(String(10))  # READ, EDIT, MANAGE, APPROVE
    creation_time: Mapped[int] = mapped_column(BigInteger)


class PrefixGrantRow(Base):
    __tablename__ = "prefix_grants"
    __table_args__ = (UniqueConstraint("resource_type", "prefix", "group_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(256))
    group_name: Mapped[str] = mapped_column(String(256))
    permission: Mapped[str] = mapped_column(String(10))
    creation_time: Mapped[int] = mapped_column(BigInteger)
