"""What a GraphQL document costs: the query cost limit, and the work a rate limit counts.

The depth limit, alias limit and token limit each see one shape of an expensive document, and the
depth limit skips introspection altogether. The cost is an estimate of how many values the
answer holds: every field costs 1, and what is selected under a list is counted once per item
(``first``/``last`` when given as a literal, else :data:`LIST_ITEMS`). Introspection counts like
any other field, so thirty aliases of a deep ``__schema`` selection cost thirty times one.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)
from graphql.language import DocumentNode, Visitor
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

LIST_ITEMS = 10  # items assumed in a list whose size the document does not say
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


class _Costing:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.fragment_costs: dict[str, int] = {}  # each fragment is costed once, however reused
        self.open: set[str] = set()  # a cycle (an invalid document) must not recurse forever

    def selections(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None:
            return 0
        return sum(self.selection(node, parent) for node in selection_set.selections)

    def selection(self, node: Any, parent: Any) -> int:
        if isinstance(node, FieldNode):
            return self.field(node, parent)
        if isinstance(node, InlineFragmentNode):
            condition = node.type_condition
            inner = self.schema.get_type(condition.name.value) if condition else parent
            return self.selections(node.selection_set, inner)
        if isinstance(node, FragmentSpreadNode):
            return self.fragment(node.name.value)
        return 0

    def fragment(self, name: str) -> int:
        if name in self.fragment_costs:
            return self.fragment_costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.open:
            return 0
        self.open.add(name)
        cost = self.selections(
            definition.selection_set, self.schema.get_type(definition.type_condition.name.value)
        )
        self.open.discard(name)
        self.fragment_costs[name] = cost
        return cost

    def field(self, node: FieldNode, parent: Any) -> int:
        name = node.name.value
        if name == "__typename":
            return 0
        definition = _field_definition(name, parent)
        if definition is None:  # an unknown field: another rule reports it
            return 1
        inner_type = definition.type
        if isinstance(inner_type, GraphQLNonNull):
            inner_type = inner_type.of_type
        items = _stated_size(node)
        if isinstance(inner_type, GraphQLList):
            items = items or LIST_ITEMS
        named = inner_type
        while isinstance(named, GraphQLList | GraphQLNonNull):
            named = named.of_type
        return 1 + (items or 1) * self.selections(node.selection_set, named)


def _field_definition(name: str, parent: Any) -> GraphQLField | None:
    if name == "__schema":
        return SchemaMetaFieldDef
    if name == "__type":
        return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        field: GraphQLField | None = parent.fields.get(name)
        return field
    return None


def _stated_size(node: FieldNode) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value in {"first", "last"} and isinstance(argument.value, IntValueNode):
            return max(int(argument.value.value), 1)
    return None


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def operation_cost(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> int:
    root = schema.get_root_type(operation.operation)
    return _Costing(schema, _fragments(document)).selections(operation.selection_set, root)


def max_cost_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule refusing operations that cost more than ``max_cost``."""

    class MaxQueryCost(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: object) -> Any:
            context = self.context
            cost = operation_cost(context.schema, context.document, node)
            if cost > max_cost:
                context.report_error(
                    GraphQLError(
                        f"this query would cost about {cost}, over the limit of {max_cost}: "
                        "select fewer fields, fewer items or less nesting",
                        node,
                    )
                )
            return Visitor.SKIP

    return MaxQueryCost


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> list[FieldNode]:
    fields: list[FieldNode] = []
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            fields.append(node)
        elif isinstance(node, InlineFragmentNode):
            fields += _root_fields(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            seen.add(node.name.value)
            definition = fragments.get(node.name.value)
            if definition is not None:
                fields += _root_fields(definition.selection_set, fragments, seen)
    return fields


def _named(operation: OperationDefinitionNode, name: str) -> bool:
    return operation.name is not None and operation.name.value == name


def operation_work(document: DocumentNode, operation_name: str | None) -> int:
    """What one operation spends of its caller's rate budget: one for each mutation field (30
    aliased donations are 30 donations) and for each introspection root; at least one."""
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and (operation_name is None or _named(definition, operation_name))
    ]
    if not operations:
        return 1
    operation = operations[0]
    fields = _root_fields(operation.selection_set, _fragments(document), set())
    # Same alias (or name) twice is one field executed once.
    distinct = {(field.alias or field.name).value: field.name.value for field in fields}
    work = sum(
        1
        for name in distinct.values()
        if operation.operation is OperationType.MUTATION or name in INTROSPECTION_ROOTS
    )
    return max(work, 1)
