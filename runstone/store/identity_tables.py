"""Identity tables: users and service accounts (one table, told apart by ``kind``) and their
API tokens. A password is kept only as an argon2id hash; a token only as the SHA-256 of its
secret, which is 256 random bits, so a fast hash is as strong as a slow one and costs nothing
per request.

Imported at the end of tables.py so that ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from runstone.store.tables import Base


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # user, service
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)  # argon2id; None: no password login
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    creation_time: Mapped[int] = mapped_column(BigInteger)
    disabled_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[str] = mapped_column(String(32), unique=True)  # public part, shown in listings and audit
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(250))
    secret_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the secret part
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    resources: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list; None: every resource
    creation_time: Mapped[int] = mapped_column(BigInteger)
    expiry_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
