/* Unit tests for src/graphql/validate.c and validate_overlap.c.
 *
 * Every specified rule has at least one passing and one failing document; the
 * expected error counts, locations and first messages were produced by
 * graphql-js `validate()` (16.8.2; 16.15.0, which tests/graphql-diff pins,
 * for the OneOf cases) on the same schema and documents, so these tests pin
 * the differential behaviour (messages included, "Did you mean" suggestions
 * too).
 * Then chatd's limits at their edges, documents against the real chat schema,
 * and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "graphql/gql_internal.h"

static const char test_sdl[] =
    "directive @onQuery on QUERY\n"
    "directive @onMutation on MUTATION\n"
    "directive @onField on FIELD\n"
    "directive @onFragment on FRAGMENT_DEFINITION\n"
    "directive @onVar on VARIABLE_DEFINITION\n"
    "directive @rep repeatable on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "directive @reqArg(x: Int!, y: String = \"a\") on FIELD\n"
    "scalar DateTime\n"
    "interface Being { name(surname: Boolean): String }\n"
    "interface Mammal { mother: Mammal father: Mammal }\n"
    "interface Pet implements Being { name(surname: Boolean): String }\n"
    "interface Canine implements Mammal { name(surname: Boolean): String mother: Canine father: "
    "Canine }\n"
    "enum DogCommand { SIT HEEL DOWN }\n"
    "type Dog implements Being & Pet & Mammal & Canine {\n"
    "  name(surname: Boolean): String\n"
    "  nickname: String\n"
    "  barkVolume: Int\n"
    "  barks: Boolean\n"
    "  doesKnowCommand(dogCommand: DogCommand): Boolean\n"
    "  isHouseTrained(atOtherHomes: Boolean = true): Boolean\n"
    "  isAtLocation(x: Int, y: Int): Boolean\n"
    "  mother: Dog\n"
    "  father: Dog\n"
    "  born: DateTime\n"
    "}\n"
    "type Cat implements Being & Pet { name(surname: Boolean): String nickname: String meows: "
    "Boolean meowsVolume: Int furColor: FurColor }\n"
    "union CatOrDog = Cat | Dog\n"
    "type Human { name(surname: Boolean): String pets: [Pet] relatives: [Human]! iq: Int }\n"
    "enum FurColor { BROWN BLACK TAN SPOTTED NO_FUR UNKNOWN }\n"
    "input ComplexInput { requiredField: Boolean! nonNullField: Boolean! = false intField: Int "
    "stringField: String booleanField: Boolean stringListField: [String] nested: ComplexInput }\n"
    "type ComplicatedArgs {\n"
    "  intArgField(intArg: Int): String\n"
    "  nonNullIntArgField(nonNullIntArg: Int!): String\n"
    "  stringArgField(stringArg: String): String\n"
    "  booleanArgField(booleanArg: Boolean): String\n"
    "  enumArgField(enumArg: FurColor): String\n"
    "  floatArgField(floatArg: Float): String\n"
    "  idArgField(idArg: ID): String\n"
    "  stringListArgField(stringListArg: [String]): String\n"
    "  stringListNonNullArgField(stringListNonNullArg: [String!]): String\n"
    "  complexArgField(complexArg: ComplexInput): String\n"
    "  multipleReqs(req1: Int!, req2: Int!): String\n"
    "  nonNullFieldWithDefault(arg: Int! = 0): String\n"
    "  multipleOpts(opt1: Int = 0, opt2: Int = 0): String\n"
    "  multipleOptAndReq(req1: Int!, req2: Int!, opt1: Int = 0, opt2: Int = 0): String\n"
    "  dateArg(d: DateTime): String\n"
    "  oneOfArgField(oneOfArg: OneOfInput): String\n"
    "}\n"
    "input OneOfInput @oneOf { stringField: String intField: Int nested: OneOfInput }\n"
    "type Query {\n"
    "  human(id: ID): Human\n"
    "  dog: Dog\n"
    "  cat: Cat\n"
    "  pet: Pet\n"
    "  catOrDog: CatOrDog\n"
    "  complicatedArgs: ComplicatedArgs\n"
    "  being: Being\n"
    "  mammal: Mammal\n"
    "  canine: Canine\n"
    "}\n"
    "type Mutation { doIt(x: Int): Dog }\n"
    "type Subscription { dogAdded: Dog catAdded: Cat }\n";

typedef struct vcase {
    const char *rule;
    const char *doc;
    uint32_t nerrors;
    const char *locs;  /* "l:c,l:c;l:c" — errors separated by ';' */
    const char *first; /* first message (graphql-js), suggestions included */
} vcase;

static const vcase cases[] = {
    {"ExecutableDefinitions", "{ dog { name } }", 0, "", ""},
    {"ExecutableDefinitions", "{ dog { name } }\ntype Foo { a: Int }\nschema { query: Query }", 2,
     "2:1;3:1", "The \"Foo\" definition is not executable."},
    {"UniqueOperationNames", "query A { dog { name } } query B { dog { name } }", 0, "", ""},
    {"UniqueOperationNames", "query A { dog { name } }\nquery A { cat { name } }", 1, "1:7,2:7",
     "There can be only one operation named \"A\"."},
    {"LoneAnonymousOperation", "{ dog { ...F } } fragment F on Dog { name }", 0, "", ""},
    {"LoneAnonymousOperation", "{ dog { name } }\nquery B { dog { name } }", 1, "1:1",
     "This anonymous operation must be the only defined operation."},
    {"SingleFieldSubscriptions", "subscription S { dogAdded { name } }", 0, "", ""},
    {"SingleFieldSubscriptions",
     "subscription S { dogAdded { name } ...F }\nfragment F on Subscription { catAdded { name } "
     "__typename }",
     2, "2:30,2:48;2:48", "Subscription \"S\" must select only one top level field."},
    {"SingleFieldSubscriptions",
     "subscription { dogAdded { name } catAdded @skip(if: true) { name } }", 0, "", ""},
    {"KnownTypeNames",
     "query($a: Int, $b: [String]) { dog { isAtLocation(x: $a) } complicatedArgs { "
     "stringListArgField(stringListArg: $b) } }",
     0, "", ""},
    {"KnownTypeNames",
     "query($a: Foo) { dog { ... on Bar { name } ...F } }\nfragment F on Baz { name }", 4,
     "1:11;1:31;1:7;2:15", "Unknown type \"Foo\". Did you mean \"Dog\"?"},
    {"FragmentsOnCompositeTypes",
     "{ dog { ... on Pet { name } ...F } } fragment F on Being { name }", 0, "", ""},
    {"FragmentsOnCompositeTypes",
     "{ dog { ... on Boolean { name } ...F } }\nfragment F on DogCommand { name }", 2, "1:16;2:15",
     "Fragment cannot condition on non composite type \"Boolean\"."},
    {"VariablesAreInputTypes",
     "query($a: ComplexInput, $b: [String!]) { complicatedArgs { complexArgField(complexArg: $a) "
     "stringListArgField(stringListArg: $b) } }",
     0, "", ""},
    {"VariablesAreInputTypes", "query($a: Dog, $b: [[CatOrDog!]]!) { dog { name } }", 4,
     "1:11;1:20;1:7;1:16", "Variable \"$a\" cannot be non-input type \"Dog\"."},
    {"ScalarLeafs", "{ dog { name mother { name } } }", 0, "", ""},
    {"ScalarLeafs", "{ dog { name { x } } human }", 2, "1:14;1:22",
     "Field \"name\" must not have a selection since type \"String\" has no subfields."},
    {"FieldsOnCorrectType", "{ dog { __typename name } catOrDog { __typename } }", 0, "", ""},
    {"FieldsOnCorrectType", "{ dog { meows } catOrDog { name } nope }", 3, "1:9;1:28;1:35",
     "Cannot query field \"meows\" on type \"Dog\"."},
    {"UniqueFragmentNames",
     "{ dog { ...A ...B } } fragment A on Dog { name } fragment B on Dog { name }", 0, "", ""},
    {"UniqueFragmentNames",
     "{ dog { ...A } }\nfragment A on Dog { name }\nfragment A on Dog { barks }", 1, "2:10,3:10",
     "There can be only one fragment named \"A\"."},
    {"KnownFragmentNames", "{ dog { ...A } } fragment A on Dog { name }", 0, "", ""},
    {"KnownFragmentNames", "{ dog { ...Nope name ...Also } }", 2, "1:12;1:25",
     "Unknown fragment \"Nope\"."},
    {"NoUnusedFragments", "{ dog { ...A } } fragment A on Dog { ...B } fragment B on Dog { name }",
     0, "", ""},
    {"NoUnusedFragments",
     "{ dog { name } }\nfragment A on Dog { ...B }\nfragment B on Dog { name }", 2, "2:1;3:1",
     "Fragment \"A\" is never used."},
    {"PossibleFragmentSpreads",
     "{ pet { ... on Dog { name } ...C } } fragment C on CatOrDog { __typename }", 0, "", ""},
    {"PossibleFragmentSpreads",
     "{ dog { ... on Cat { meows } ...H } }\nfragment H on Human { name }", 2, "1:9;1:30",
     "Fragment cannot be spread here as objects of type \"Dog\" can never be of type \"Cat\"."},
    {"NoFragmentCycles", "{ dog { ...A } } fragment A on Dog { ...B } fragment B on Dog { name }",
     0, "", ""},
    {"NoFragmentCycles",
     "{ dog { ...A } }\nfragment A on Dog { ...B }\nfragment B on Dog { ...C }\nfragment C on Dog "
     "{ ...A ...C }",
     2, "2:21,3:21,4:21;4:26", "Cannot spread fragment \"A\" within itself via \"B\", \"C\"."},
    {"UniqueVariableNames", "query($a: Int, $b: Int) { dog { isAtLocation(x: $a, y: $b) } }", 0, "",
     ""},
    {"UniqueVariableNames", "query($a: Int, $a: Int, $a: Int) { dog { isAtLocation(x: $a) } }", 1,
     "1:8,1:17,1:26", "There can be only one variable named \"$a\"."},
    {"NoUndefinedVariables",
     "query($a: Int) { dog { ...F } } fragment F on Dog { isAtLocation(x: $a) }", 0, "", ""},
    {"NoUndefinedVariables",
     "query Q($a: Int) { dog { ...F l2: isAtLocation(y: $b) } }\nfragment F on Dog { "
     "isAtLocation(x: $a, y: $c) }",
     2, "1:51,1:1;2:44,1:1", "Variable \"$b\" is not defined by operation \"Q\"."},
    {"NoUnusedVariables", "query($a: Int) { dog { isAtLocation(x: $a) } }", 0, "", ""},
    {"NoUnusedVariables", "query Q($a: Int, $b: Int) { dog { name } }", 2, "1:9;1:18",
     "Variable \"$a\" is never used in operation \"Q\"."},
    {"KnownDirectives",
     "query Q($v: Int @onVar) @onQuery { dog @include(if: true) { name @onField isAtLocation(x: "
     "$v) } }",
     0, "", ""},
    {"KnownDirectives", "query Q @onMutation { dog @nope { name @onQuery } }", 3, "1:9;1:27;1:40",
     "Directive \"@onMutation\" may not be used on QUERY."},
    {"UniqueDirectivesPerLocation", "{ dog { name @rep @rep @skip(if: true) } }", 0, "", ""},
    {"UniqueDirectivesPerLocation",
     "{ dog { name @skip(if: true) @skip(if: false) @skip(if: true) } }", 2, "1:14,1:30;1:14,1:47",
     "The directive \"@skip\" can only be used once at this location."},
    {"KnownArgumentNames", "{ dog { isAtLocation(x: 1, y: 2) name @skip(if: true) } }", 0, "", ""},
    {"KnownArgumentNames", "{ dog { isAtLocation(z: 1) name @skip(if: true, unless: false) } }", 2,
     "1:22;1:49",
     "Unknown argument \"z\" on field \"Dog.isAtLocation\". Did you mean \"x\" or \"y\"?"},
    {"UniqueArgumentNames", "{ dog { isAtLocation(x: 1, y: 1) } }", 0, "", ""},
    {"UniqueArgumentNames",
     "{ dog { isAtLocation(x: 1, x: 2, y: 1, x: 3) name @skip(if: true, if: false) } }", 2,
     "1:22,1:28,1:40;1:57,1:67", "There can be only one argument named \"x\"."},
    {"ValuesOfCorrectType",
     "{ complicatedArgs { intArgField(intArg: 1) floatArgField(floatArg: 1) idArgField(idArg: 1) "
     "enumArgField(enumArg: BROWN) stringListArgField(stringListArg: \"one\") "
     "complexArgField(complexArg: {requiredField: true}) dateArg(d: {any: [1]}) } }",
     0, "", ""},
    {"ValuesOfCorrectType",
     "{ complicatedArgs { intArgField(intArg: \"1\") stringArgField(stringArg: 1) "
     "enumArgField(enumArg: PURPLE) floatArgField(floatArg: true) idArgField(idArg: 1.5) } }",
     5, "1:41;1:72;1:97;1:129;1:153", "Int cannot represent non-integer value: \"1\""},
    {"ValuesOfCorrectType",
     "{ complicatedArgs { intArgField(intArg: 2147483648) "
     "stringListNonNullArgField(stringListNonNullArg: [\"a\", null]) complexArgField(complexArg: "
     "{intField: 1, nope: 2}) booleanArgField(booleanArg: [true]) } }",
     5, "1:41;1:107;1:142;1:156;1:194",
     "Int cannot represent non 32-bit signed integer value: 2147483648"},
    {"ValuesOfCorrectType",
     "query($v: Int = \"x\", $w: ComplexInput = {requiredField: 1}) { complicatedArgs { "
     "intArgField(intArg: $v) complexArgField(complexArg: $w) } }",
     2, "1:17;1:57", "Int cannot represent non-integer value: \"x\""},
    /* OneOf input objects (graphql-js 16.15) */
    {"ValuesOfCorrectType",
     "{ complicatedArgs { oneOfArgField(oneOfArg: {stringField: \"a\"}) o2: "
     "oneOfArgField(oneOfArg: {nested: {intField: 1}}) } }",
     0, "", ""},
    {"ValuesOfCorrectType",
     "{ complicatedArgs { oneOfArgField(oneOfArg: {stringField: \"a\", intField: 1}) o2: "
     "oneOfArgField(oneOfArg: {}) o3: oneOfArgField(oneOfArg: {intField: null}) o4: "
     "oneOfArgField(oneOfArg: {nested: {}}) } }",
     4, "1:45;1:106;1:138;1:193",
     "OneOf Input Object \"OneOfInput\" must specify exactly one key."},
    {"VariablesInAllowedPosition",
     "query($a: String!, $b: OneOfInput) { complicatedArgs { oneOfArgField(oneOfArg: "
     "{stringField: $a}) o2: oneOfArgField(oneOfArg: $b) } }",
     0, "", ""},
    {"VariablesInAllowedPosition",
     "query($a: String, $b: Int = 1) { complicatedArgs { oneOfArgField(oneOfArg: {stringField: "
     "$a}) o2: oneOfArgField(oneOfArg: {intField: $b}) } }",
     2, "1:7,1:90;1:19,1:134",
     "Variable \"$a\" is of type \"String\" but must be non-nullable to be used for OneOf Input "
     "Object \"OneOfInput\"."},
    {"VariablesInAllowedPosition",
     "query($a: Int) { complicatedArgs { oneOfArgField(oneOfArg: {stringField: $a}) } }", 2,
     "1:7,1:74;1:7,1:74",
     "Variable \"$a\" of type \"Int\" used in position expecting type \"String\"."},
    {"ProvidedRequiredArguments",
     "{ complicatedArgs { multipleReqs(req1: 1, req2: 2) nonNullFieldWithDefault multipleOpts } "
     "dog { name @skip(if: false) } }",
     0, "", ""},
    {"ProvidedRequiredArguments",
     "{ complicatedArgs { multipleReqs nonNullIntArgField(nonNullIntArg: 1) } dog { name @skip "
     "@reqArg } }",
     4, "1:21;1:21;1:84;1:90",
     "Field \"multipleReqs\" argument \"req1\" of type \"Int!\" is required, but it was not "
     "provided."},
    {"VariablesInAllowedPosition",
     "query($a: Int!, $b: Int = 1, $c: Boolean!) { complicatedArgs { "
     "nonNullIntArgField(nonNullIntArg: $a) nonNullFieldWithDefault(arg: $b) } dog { name "
     "@skip(if: $c) } }",
     0, "", ""},
    {"VariablesInAllowedPosition",
     "query($a: Int, $b: String, $c: Boolean) { complicatedArgs { "
     "nonNullIntArgField(nonNullIntArg: $a) intArgField(intArg: $b) } dog { name @skip(if: $c) } }",
     3, "1:7,1:95;1:16,1:119;1:28,1:146",
     "Variable \"$a\" of type \"Int\" used in position expecting type \"Int!\"."},
    {"OverlappingFieldsCanBeMerged",
     "{ dog { name name x: barks x: barks doesKnowCommand(dogCommand: SIT) "
     "doesKnowCommand(dogCommand: SIT) } catOrDog { ... on Dog { v: barkVolume } ... on Cat { v: "
     "meowsVolume } } }",
     0, "", ""},
    {"OverlappingFieldsCanBeMerged",
     "{ dog { x: name x: barks doesKnowCommand(dogCommand: SIT) doesKnowCommand(dogCommand: HEEL) "
     "} pet { ... on Dog { v: barkVolume } ... on Cat { v: nickname } } }",
     3, "1:9,1:17;1:26,1:59;1:114,1:143",
     "Fields \"x\" conflict because \"name\" and \"barks\" are different fields. Use different "
     "aliases on the fields to fetch both if this was intentional."},
    {"OverlappingFieldsCanBeMerged",
     "{ dog { ...A ...B mother { name } } dog { mother { name: nickname } } }\nfragment A on Dog { "
     "x: name }\nfragment B on Dog { x: barks }",
     2, "1:3,1:19,1:28,1:37,1:43,1:52;2:21,3:21",
     "Fields \"dog\" conflict because subfields \"mother\" conflict because subfields \"name\" "
     "conflict because \"name\" and \"nickname\" are different fields. Use different aliases on "
     "the fields to fetch both if this was intentional."},
    {"UniqueInputFieldNames",
     "{ complicatedArgs { complexArgField(complexArg: {requiredField: true, intField: 1, nested: "
     "{requiredField: true, intField: 2}}) } }",
     0, "", ""},
    {"UniqueInputFieldNames",
     "{ complicatedArgs { complexArgField(complexArg: {requiredField: true, intField: 1, intField: "
     "2, intField: 3}) } }",
     2, "1:71,1:84;1:71,1:97", "There can be only one input field named \"intField\"."},
    /* graphql-js 16.15 reports a conflict inside an inline fragment once (at
     * the enclosing level; 16.8 reported it from both sets) */
    {"OverlappingFieldsCanBeMerged", "{ catOrDog { ... on Dog { x: name x: barks } } }", 1,
     "1:27,1:35",
     "Fields \"x\" conflict because \"name\" and \"barks\" are different fields. Use different "
     "aliases on the fields to fetch both if this was intentional."},
    {"OverlappingFieldsCanBeMerged",
     "{ dog { ...A ...B } }\nfragment A on Dog { ...C }\nfragment B on Dog { ...C x: barks "
     "}\nfragment C on Dog { x: name }",
     2, "4:21,3:26;3:26,4:21",
     "Fields \"x\" conflict because \"name\" and \"barks\" are different fields. Use different "
     "aliases on the fields to fetch both if this was intentional."},
};

static gql_schema *g_schema;

static int setup(void **state)
{
    (void)state;
    char err[256];
    int rc = gql_schema_build(test_sdl, sizeof test_sdl - 1, &g_schema, err, sizeof err);
    if (rc) fprintf(stderr, "schema: %s\n", err);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    gql_schema_free(g_schema);
    return 0;
}

/* Validates `doc` and renders the error locations like vcase.locs. */
static uint32_t run(const gql_schema *s, const char *doc, char *locs, size_t cap, char *first,
                    size_t fcap, gql_error_list *out, cd_arena *a)
{
    gql_document *d = NULL;
    gql_syntax_error se;
    int rc = gql_parse(a, doc, strlen(doc), &d, &se);
    if (rc) fprintf(stderr, "parse failed: %s (%s)\n", se.message, doc);
    assert_int_equal(rc, 0);
    gql_errors_init(out, a);
    uint32_t n = gql_validate(s, d, out);
    assert_int_equal(n, out->n);
    size_t len = 0;
    locs[0] = '\0';
    for (uint32_t i = 0; i < out->n; i++) {
        if (i) len += (size_t)snprintf(locs + len, cap - len, ";");
        for (uint32_t k = 0; k < out->items[i].nlocs; k++)
            len += (size_t)snprintf(locs + len, cap - len, "%s%u:%u", k ? "," : "",
                                    out->items[i].locs[k].line, out->items[i].locs[k].col);
    }
    snprintf(first, fcap, "%s", out->n ? out->items[0].message : "");
    return n;
}

static void test_rules_like_graphql_js(void **state)
{
    (void)state;
    for (size_t i = 0; i < CD_ARRAY_LEN(cases); i++) {
        const vcase *c = &cases[i];
        cd_arena a;
        cd_arena_init(&a, 4096);
        gql_error_list errs;
        char locs[512], first[512];
        uint32_t n = run(g_schema, c->doc, locs, sizeof locs, first, sizeof first, &errs, &a);
        if (n != c->nerrors || strcmp(locs, c->locs) != 0 || strcmp(first, c->first) != 0) {
            fprintf(stderr, "rule %s\n  doc: %s\n  want %u [%s] %s\n  got  %u [%s] %s\n", c->rule,
                    c->doc, c->nerrors, c->locs, c->first, n, locs, first);
            fail();
        }
        for (uint32_t k = 0; k < errs.n; k++)
            assert_null(errs.items[k].code);
        cd_arena_free(&a);
    }
}

/* Every rule name appears with a passing (0) and a failing (>0) document. */
static void test_every_rule_covered(void **state)
{
    (void)state;
    static const char *const rules[] = {"ExecutableDefinitions",
                                        "UniqueOperationNames",
                                        "LoneAnonymousOperation",
                                        "SingleFieldSubscriptions",
                                        "KnownTypeNames",
                                        "FragmentsOnCompositeTypes",
                                        "VariablesAreInputTypes",
                                        "ScalarLeafs",
                                        "FieldsOnCorrectType",
                                        "UniqueFragmentNames",
                                        "KnownFragmentNames",
                                        "NoUnusedFragments",
                                        "PossibleFragmentSpreads",
                                        "NoFragmentCycles",
                                        "UniqueVariableNames",
                                        "NoUndefinedVariables",
                                        "NoUnusedVariables",
                                        "KnownDirectives",
                                        "UniqueDirectivesPerLocation",
                                        "KnownArgumentNames",
                                        "UniqueArgumentNames",
                                        "ValuesOfCorrectType",
                                        "ProvidedRequiredArguments",
                                        "VariablesInAllowedPosition",
                                        "OverlappingFieldsCanBeMerged",
                                        "UniqueInputFieldNames"};
    for (size_t r = 0; r < CD_ARRAY_LEN(rules); r++) {
        bool pass = false, failing = false;
        for (size_t i = 0; i < CD_ARRAY_LEN(cases); i++) {
            if (strcmp(cases[i].rule, rules[r]) != 0) continue;
            if (cases[i].nerrors)
                failing = true;
            else
                pass = true;
        }
        if (!pass || !failing) fprintf(stderr, "rule %s lacks a case\n", rules[r]);
        assert_true(pass && failing);
    }
}

/* A selection nested `depth` fields deep: { dog { mother { mother ... { name } } } } */
static char *nested_doc(unsigned depth)
{
    size_t cap = 64 + depth * 16;
    char *d = malloc(cap);
    assert_non_null(d);
    size_t len = (size_t)snprintf(d, cap, "{ dog {");
    for (unsigned i = 2; i < depth; i++)
        len += (size_t)snprintf(d + len, cap - len, " mother {");
    len += (size_t)snprintf(d + len, cap - len, " name");
    for (unsigned i = 1; i < depth; i++)
        len += (size_t)snprintf(d + len, cap - len, " }");
    snprintf(d + len, cap - len, " }");
    return d;
}

static uint32_t validate_text(const char *doc, gql_error_list *errs, cd_arena *a)
{
    char locs[4096], first[512];
    return run(g_schema, doc, locs, sizeof locs, first, sizeof first, errs, a);
}

static void expect_limit(const char *doc, bool ok, const char *needle)
{
    cd_arena a;
    cd_arena_init(&a, 4096);
    gql_error_list errs;
    uint32_t n = validate_text(doc, &errs, &a);
    if (ok) {
        if (n) fprintf(stderr, "unexpected: %s\n", errs.items[0].message);
        assert_int_equal(n, 0);
    } else {
        assert_int_equal(n, 1);
        assert_non_null(errs.items[0].code);
        assert_string_equal(errs.items[0].code, "QUERY_TOO_COMPLEX");
        assert_non_null(strstr(errs.items[0].message, needle));
        assert_int_equal(errs.items[0].nlocs, 1);
        assert_int_equal(errs.items[0].locs[0].line, 1);
        assert_int_equal(errs.items[0].locs[0].col, 1);
    }
    cd_arena_free(&a);
}

static void test_limit_depth(void **state)
{
    (void)state;
    char *d = nested_doc(GQL_MAX_DEPTH);
    expect_limit(d, true, NULL);
    free(d);
    d = nested_doc(GQL_MAX_DEPTH + 1);
    expect_limit(d, false, "depth");
    free(d);
    /* depth counts through fragment spreads and inline fragments */
    char buf[4096];
    size_t len =
        (size_t)snprintf(buf, sizeof buf, "{ dog { ... on Dog { ...F } } } fragment F on Dog {");
    for (unsigned i = 2; i < GQL_MAX_DEPTH; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, " mother {");
    len += (size_t)snprintf(buf + len, sizeof buf - len, " mother { name }");
    for (unsigned i = 2; i < GQL_MAX_DEPTH; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, " }");
    snprintf(buf + len, sizeof buf - len, " }");
    expect_limit(buf, false, "depth");
}

/* `n` field selections: a fragment of 10 fields spread n/10 times plus the
 * rest inline, all under the root field `dog` (which counts as one). */
static char *fields_doc(unsigned n)
{
    size_t cap = 64 + n * 16;
    char *d = malloc(cap);
    assert_non_null(d);
    unsigned body = n - 1; /* `dog` itself */
    size_t len = (size_t)snprintf(d, cap, "{ dog {");
    for (unsigned i = 0; i < body / 10; i++)
        len += (size_t)snprintf(d + len, cap - len, " ...F");
    for (unsigned i = 0; i < body % 10; i++)
        len += (size_t)snprintf(d + len, cap - len, " name");
    snprintf(d + len, cap - len,
             " } } fragment F on Dog { name nickname barkVolume barks name nickname barkVolume "
             "barks __typename __typename }");
    return d;
}

static void test_limit_fields(void **state)
{
    (void)state;
    char *d = fields_doc(GQL_MAX_FIELDS);
    expect_limit(d, true, NULL);
    free(d);
    d = fields_doc(GQL_MAX_FIELDS + 1);
    expect_limit(d, false, "field selections");
    free(d);
    /* exponential fragment expansion is counted (saturating), not walked */
    char buf[8192];
    size_t len = (size_t)snprintf(buf, sizeof buf, "{ dog { ...F0 } }");
    for (int i = 0; i < 60; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len,
                                " fragment F%d on Dog { ...F%d ...F%d }", i, i + 1, i + 1);
    snprintf(buf + len, sizeof buf - len, " fragment F60 on Dog { name }");
    expect_limit(buf, false, "field selections");
}

static char *aliases_doc(unsigned n)
{
    size_t cap = 64 + n * 16;
    char *d = malloc(cap);
    assert_non_null(d);
    size_t len = (size_t)snprintf(d, cap, "{ dog {");
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(d + len, cap - len, " a%u: name", i);
    snprintf(d + len, cap - len, " } }");
    return d;
}

static void test_limit_aliases(void **state)
{
    (void)state;
    char *d = aliases_doc(GQL_MAX_ALIASES);
    expect_limit(d, true, NULL);
    free(d);
    d = aliases_doc(GQL_MAX_ALIASES + 1);
    expect_limit(d, false, "aliased");
    free(d);
}

/* The limits run before the spec rules: a document over one is answered with
 * that error alone (the rules, quadratic ones included, never see it); one
 * within them gets the spec errors only. */
static void test_limits_before_spec_rules(void **state)
{
    (void)state;
    char *d = aliases_doc(GQL_MAX_ALIASES + 1);
    size_t len = strlen(d);
    d = realloc(d, len + 32);
    assert_non_null(d);
    strcpy(d + len - 4, " nope } }"); /* unknown field */
    cd_arena a;
    cd_arena_init(&a, 4096);
    gql_error_list errs;
    uint32_t n = validate_text(d, &errs, &a);
    assert_int_equal(n, 1);
    assert_string_equal(errs.items[0].code, "QUERY_TOO_COMPLEX");
    assert_non_null(strstr(errs.items[0].message, "aliased"));
    free(d);
    d = aliases_doc(GQL_MAX_ALIASES);
    len = strlen(d);
    d = realloc(d, len + 32);
    assert_non_null(d);
    strcpy(d + len - 4, " nope } }");
    n = validate_text(d, &errs, &a);
    assert_int_equal(n, 1);
    assert_null(errs.items[0].code);
    assert_non_null(strstr(errs.items[0].message, "Cannot query field \"nope\""));
    free(d);
    /* 19,990 repeated fields: refused by the field count without any rule's
     * work (the work counter stays at zero) */
    size_t cap = 19990 * 5 + 64;
    d = malloc(cap);
    assert_non_null(d);
    len = (size_t)snprintf(d, cap, "{ dog {");
    for (int i = 0; i < 19990; i++)
        len += (size_t)snprintf(d + len, cap - len, " name");
    snprintf(d + len, cap - len, " } }");
    gql_document *doc = NULL;
    gql_syntax_error se;
    assert_int_equal(gql_parse(&a, d, strlen(d), &doc, &se), 0);
    gql_errors_init(&errs, &a);
    gql_vwork work = {0};
    assert_int_equal(gql_validate_ex(g_schema, doc, &errs, &work), 1);
    assert_string_equal(errs.items[0].code, "QUERY_TOO_COMPLEX");
    assert_int_equal(work.work, 0);
    assert_int_equal(work.overlap_spent, 0);
    cd_arena_free(&a);
    free(d);
}

/* Big documents stay fast: many same-named fields and fragments. */
static void test_big_documents(void **state)
{
    (void)state;
    size_t cap = 200000;
    char *d = malloc(cap);
    assert_non_null(d);
    size_t len = (size_t)snprintf(d, cap, "{ dog {");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(d + len, cap - len, " ...G%d", i);
    len += (size_t)snprintf(d + len, cap - len, " } }");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(d + len, cap - len, " fragment G%d on Dog { name mother { name } }",
                                i);
    cd_arena a;
    cd_arena_init(&a, 4096);
    gql_error_list errs;
    assert_int_equal(validate_text(d, &errs, &a), 0);
    cd_arena_free(&a);
    /* GQL_MAX_FIELDS - 1 identical leaves under `dog`: ~2M pairs, no work */
    len = (size_t)snprintf(d, cap, "{ dog {");
    for (unsigned i = 0; i < GQL_MAX_FIELDS - 1; i++)
        len += (size_t)snprintf(d + len, cap - len, " name");
    snprintf(d + len, cap - len, " } }");
    cd_arena_init(&a, 4096);
    assert_int_equal(validate_text(d, &errs, &a), 0);
    cd_arena_free(&a);
    /* graphql-js 16.8 recurses forever on this (stack overflow); we stop */
    snprintf(d, cap,
             "{ dog { ...A ...B } }\n"
             "fragment A on Dog { mother { ...A mother { ...A } } }\n"
             "fragment B on Dog { mother { ...B mother { ...B } } }");
    cd_arena_init(&a, 4096);
    uint32_t n = validate_text(d, &errs, &a);
    assert_true(n >= 1);
    assert_string_equal(errs.items[n - 1].message, "Validation aborted.");
    cd_arena_free(&a);
    free(d);
}

/* Validates `doc` (which must parse) with the given budgets (0 = default);
 * fills *w with the work done. */
static uint32_t validate_work(const char *doc, gql_vwork *w, gql_error_list *errs, cd_arena *a)
{
    gql_document *d = NULL;
    gql_syntax_error se;
    assert_int_equal(gql_parse(a, doc, strlen(doc), &d, &se), 0);
    gql_errors_init(errs, a);
    uint32_t n = gql_validate_ex(g_schema, d, errs, w);
    assert_int_equal(n, errs->n);
    return n;
}

/* `{ dog { name name ... } }` just under the token limit (issue 15: 19,990
 * fields took seconds, every pair of identical fields visited): refused by
 * the field-count limit before any rule runs; and the rules alone (limits
 * off) do a linear amount of work on it. */
static void test_repeated_fields_linear(void **state)
{
    (void)state;
    const unsigned nf = 19990;
    size_t cap = 8 * nf + 64, len;
    char *d = malloc(cap);
    assert_non_null(d);
    len = (size_t)snprintf(d, cap, "{ dog {");
    for (unsigned i = 0; i < nf; i++)
        len += (size_t)snprintf(d + len, cap - len, " name");
    snprintf(d + len, cap - len, " } }");
    cd_arena a;
    cd_arena_init(&a, 4096);
    gql_error_list errs;
    gql_vwork w = {0};
    assert_int_equal(validate_work(d, &w, &errs, &a), 1);
    assert_null(strstr(errs.items[0].message, "aborted"));
    assert_non_null(errs.items[0].code);
    assert_string_equal(errs.items[0].code, "QUERY_TOO_COMPLEX");
    assert_non_null(strstr(errs.items[0].message, "19991 field selections"));
    assert_int_equal(w.work, 0); /* the limit answered before the rules */
    assert_int_equal(w.overlap_spent, 0);
    cd_arena_free(&a);
    /* the rules alone: a few units per field, not one per pair (2 * 10^8) */
    cd_arena_init(&a, 4096);
    memset(&w, 0, sizeof w);
    w.no_limits = true;
    assert_int_equal(validate_work(d, &w, &errs, &a), 0);
    assert_true(w.work > 0);
    assert_true(w.work <= 4 * (long)nf);
    assert_int_equal(w.overlap_spent, 0);
    cd_arena_free(&a);
    /* the same fields spread from a fragment next to them: still linear */
    len = (size_t)snprintf(d, cap, "{ dog { ...F");
    for (unsigned i = 0; i < nf / 2 - 10; i++)
        len += (size_t)snprintf(d + len, cap - len, " name");
    len += (size_t)snprintf(d + len, cap - len, " } } fragment F on Dog {");
    for (unsigned i = 0; i < nf / 2 - 10; i++)
        len += (size_t)snprintf(d + len, cap - len, " name");
    snprintf(d + len, cap - len, " }");
    cd_arena_init(&a, 4096);
    memset(&w, 0, sizeof w);
    assert_int_equal(validate_work(d, &w, &errs, &a), 1);
    assert_non_null(errs.items[0].code);
    assert_string_equal(errs.items[0].code, "QUERY_TOO_COMPLEX");
    assert_true(w.work <= 4 * (long)nf);
    cd_arena_free(&a);
    cd_arena_init(&a, 4096);
    memset(&w, 0, sizeof w);
    w.no_limits = true;
    assert_int_equal(validate_work(d, &w, &errs, &a), 0);
    assert_true(w.work > 0);
    assert_true(w.work <= 4 * (long)nf);
    cd_arena_free(&a);
    free(d);
}

/* The work budget and the overlap budget at their edges: a document that
 * needs exactly the budget validates; one unit less ends validation with
 * "Validation aborted.". */
static void test_work_budget_edge(void **state)
{
    (void)state;
    const unsigned nf = 600; /* same field with arguments: every pair compared */
    size_t cap = 32 * nf + 64, len;
    char *d = malloc(cap);
    assert_non_null(d);
    len = (size_t)snprintf(d, cap, "{ dog {");
    for (unsigned i = 0; i < nf; i++)
        len += (size_t)snprintf(d + len, cap - len, " name(surname: true)");
    snprintf(d + len, cap - len, " } }");
    cd_arena a;
    gql_error_list errs;
    gql_vwork w = {0};
    cd_arena_init(&a, 4096);
    assert_int_equal(validate_work(d, &w, &errs, &a), 0);
    cd_arena_free(&a);
    long work = w.work, spent = w.overlap_spent;
    assert_true(work >= (long)nf * (nf - 1) / 2);
    assert_true(work < GQL_V_WORK_BUDGET);
    assert_int_equal(spent, (long)nf * (nf - 1) / 2);

    gql_vwork at = {.work_budget = work};
    cd_arena_init(&a, 4096);
    assert_int_equal(validate_work(d, &at, &errs, &a), 0);
    assert_int_equal(at.work, work);
    cd_arena_free(&a);
    gql_vwork under = {.work_budget = work - 1};
    cd_arena_init(&a, 4096);
    assert_int_equal(validate_work(d, &under, &errs, &a), 1);
    assert_string_equal(errs.items[0].message, "Validation aborted.");
    cd_arena_free(&a);

    gql_vwork oat = {.overlap_budget = spent};
    cd_arena_init(&a, 4096);
    assert_int_equal(validate_work(d, &oat, &errs, &a), 0);
    cd_arena_free(&a);
    gql_vwork ounder = {.overlap_budget = spent - 1};
    cd_arena_init(&a, 4096);
    assert_int_equal(validate_work(d, &ounder, &errs, &a), 1);
    assert_string_equal(errs.items[0].message, "Validation aborted.");
    cd_arena_free(&a);
    free(d);
}

/* Like graphql-js (maxErrors 100): after GQL_MAX_ERRORS errors one notice is
 * added and validation stops. */
static void test_error_cap(void **state)
{
    (void)state;
    size_t cap = 65536;
    char *d = malloc(cap);
    assert_non_null(d);
    size_t len = (size_t)snprintf(d, cap, "{ dog {");
    for (unsigned i = 0; i < GQL_MAX_ERRORS + 20; i++)
        len += (size_t)snprintf(d + len, cap - len, " n%u", i);
    snprintf(d + len, cap - len, " } }");
    cd_arena a;
    cd_arena_init(&a, 4096);
    gql_error_list errs;
    assert_int_equal(validate_text(d, &errs, &a), GQL_MAX_ERRORS + 1);
    assert_string_equal(errs.items[GQL_MAX_ERRORS].message,
                        "Too many validation errors, error limit reached. Validation aborted.");
    assert_string_equal(errs.items[GQL_MAX_ERRORS - 1].message,
                        "Cannot query field \"n99\" on type \"Dog\".");
    cd_arena_free(&a);
    free(d);
}

static void test_chat_schema_documents(void **state)
{
    (void)state;
    const char *path = getenv("CHATD_SCHEMA");
    if (!path) path = "schema/chat.graphql";
    size_t len = 0;
    char *sdl = test_read_file(path, &len);
    assert_non_null(sdl);
    gql_schema *s;
    char err[256];
    assert_int_equal(gql_schema_build(sdl, len, &s, err, sizeof err), 0);
    static const struct {
        const char *doc;
        uint32_t n;
    } docs[] = {
        {"mutation Create($in: CreateChatInput!) { createChat(createChatInput: $in) { id name "
         "participantIds } }",
         0},
        {"query { chats { id messages { id content sender { username } } } health { status } }", 0},
        {"subscription OnMsg($c: ID!) { messageAdded(chatId: $c) { id seq content } }", 0},
        {"subscription { messageAdded(chatId: \"1\") { id } messageUpdated(chatId: \"1\") { id } }",
         1},
        {"{ chats { nope } }", 1},
        {"{ __schema { queryType { name } } __type(name: \"Chat\") { fields { name } } }", 0},
    };
    for (size_t i = 0; i < CD_ARRAY_LEN(docs); i++) {
        cd_arena a;
        cd_arena_init(&a, 4096);
        gql_error_list errs;
        char locs[1024], first[512];
        uint32_t n = run(s, docs[i].doc, locs, sizeof locs, first, sizeof first, &errs, &a);
        if (n != docs[i].n)
            fprintf(stderr, "doc %s: %u errors, first: %s\n", docs[i].doc, n, first);
        assert_int_equal(n, docs[i].n);
        cd_arena_free(&a);
    }
    gql_schema_free(s);
    free(sdl);
}

/* Allocation failures never let a document through unvalidated. */
static void test_validate_oom(void **state)
{
    (void)state;
    const char *doc = "query Q($a: Int) { dog { ...F x: name x: nickname } } "
                      "fragment F on Dog { isAtLocation(x: $a) mother { name } }";
    bool clean = false;
    for (long n = 1; n < 2000 && !clean; n++) {
        cd_arena a;
        cd_arena_init(&a, 1 << 16);
        gql_document *d;
        gql_syntax_error se;
        assert_int_equal(gql_parse(&a, doc, strlen(doc), &d, &se), 0);
        (void)cd_arena_alloc(&a, 1 << 15); /* the list's arena has room */
        gql_error_list errs;
        gql_errors_init(&errs, &a);
        cd_alloc_fail_after(n);
        uint32_t got = gql_validate(g_schema, d, &errs);
        cd_alloc_fail_after(0);
        assert_true(got >= 1); /* the conflict, or an out-of-memory error */
        if (got == 1 && errs.n == 1 && strncmp(errs.items[0].message, "Fields \"x\"", 10) == 0) {
            clean = true;
        } else {
            /* a run that failed says so: last error, or a count above the list's */
            bool said = got > errs.n || (errs.n && strncmp(errs.items[errs.n - 1].message,
                                                           "Out of memory", 13) == 0);
            assert_true(said);
        }
        cd_arena_free(&a);
    }
    assert_true(clean);
}

/* Errors about names point at the name token the parser recorded
 * (name_loc); without it, at the usual single-space position. */
static void test_name_locations(void **state)
{
    (void)state;
    const char *doc = "query  Q { dog { ...   Nope } }\nquery\n  Q { dog { name } }";
    for (int recorded = 0; recorded < 2; recorded++) {
        cd_arena a;
        cd_arena_init(&a, 4096);
        gql_document *d;
        gql_syntax_error se;
        assert_int_equal(gql_parse(&a, doc, strlen(doc), &d, &se), 0);
        gql_operation *o1 = d->defs[0].u.op, *o2 = d->defs[1].u.op;
        gql_selection *spread = &o1->sel->items[0].sel->items[0];
        if (recorded) {
            o1->name_loc = (gql_loc){1, 8};
            o2->name_loc = (gql_loc){3, 3};
            spread->name_loc = (gql_loc){1, 24};
        } else {
            o1->name_loc = o2->name_loc = spread->name_loc = (gql_loc){0, 0};
        }
        gql_error_list errs;
        gql_errors_init(&errs, &a);
        assert_int_equal(gql_validate(g_schema, d, &errs), 2);
        /* UniqueOperationNames (enter of the 2nd op) comes after the 1st op's errors */
        assert_string_equal(errs.items[0].message, "Unknown fragment \"Nope\".");
        assert_int_equal(errs.items[0].locs[0].col, recorded ? 24 : 21);
        assert_string_equal(errs.items[1].message, "There can be only one operation named \"Q\".");
        assert_int_equal(errs.items[1].locs[0].line, 1);
        assert_int_equal(errs.items[1].locs[0].col, recorded ? 8 : 7);
        assert_int_equal(errs.items[1].locs[1].line, recorded ? 3 : 2);
        assert_int_equal(errs.items[1].locs[1].col, recorded ? 3 : 7);
        cd_arena_free(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_like_graphql_js),
        cmocka_unit_test(test_every_rule_covered),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_fields),
        cmocka_unit_test(test_limit_aliases),
        cmocka_unit_test(test_limits_before_spec_rules),
        cmocka_unit_test(test_big_documents),
        cmocka_unit_test(test_repeated_fields_linear),
        cmocka_unit_test(test_work_budget_edge),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_chat_schema_documents),
        cmocka_unit_test(test_validate_oom),
        cmocka_unit_test(test_name_locations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
