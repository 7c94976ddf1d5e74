package fr.caf.mcp.keycloak.bulk;

import jakarta.ws.rs.ForbiddenException;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.NotAuthorizedException;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.BadRequestException;
import jakarta.ws.rs.core.MediaType;
import jakarta.persistence.EntityManager;
import jakarta.persistence.Parameter;
import jakarta.persistence.TypedQuery;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.keycloak.connections.jpa.JpaConnectionProvider;
import org.keycloak.models.ClientModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.RoleModel;
import org.keycloak.models.UserLoginFailureModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.utils.KeycloakModelUtils;
import org.keycloak.services.managers.AppAuthManager;
import org.keycloak.services.managers.AuthenticationManager.AuthResult;

/**
 * Read-only bulk read of the groups and organisations Mon Compte Partenaire manages (those carrying its
 * ownership marker), a page at a time, each with all its members (and, for groups, its path, attributes and
 * role mappings). Keycloak's admin API reads members one group at a time; a full plan over thousands of partners
 * would pay one request per group. Here a page is three queries on Keycloak's own tables (marked group ids
 * in a stable order, their members, their paths from the realm cache), whatever the number of groups.
 *
 * Pages are read by key (issue 27 §3): `after` is the last id of the previous page, so a page at the end of a
 * 50,000-partner realm costs what the first one costs (an offset makes the database walk and drop every row
 * before it). `first` (an offset) stays for callers that do not send `after`.
 *
 * Allowed only to the provisioning client's service account, and only while it holds realm-management's
 * view-users role: the same right the admin API asks for the same data.
 */
public class MembershipsResource {

    static final String MARKER_ATTR = "mcp.managed-by";
    static final String MARKER = "mon-compte-partenaire";
    static final String PARTNER_ATTR = "partner";
    static final int MAX_PAGE = 1000;
    static final int MAX_ACCOUNTS = 200;
    static final String TERMS_ATTR = "terms_and_conditions";

    private final KeycloakSession session;
    private final String allowedClientId;

    public MembershipsResource(KeycloakSession session, String allowedClientId) {
        this.session = session;
        this.allowedClientId = allowedClientId;
    }

    @GET
    @Path("memberships")
    @Produces(MediaType.APPLICATION_JSON)
    public List<Map<String, Object>> memberships(@QueryParam("kind") String kind, @QueryParam("first") Integer first,
                                                 @QueryParam("max") Integer max, @QueryParam("partner") String partner,
                                                 @QueryParam("after") String after,
                                                 @QueryParam("username") List<String> usernames,
                                                 @QueryParam("root") List<String> roots) {
        RealmModel realm = authorize();
        int from = first == null ? 0 : first;
        boolean keyed = after != null && !after.isEmpty();
        if (keyed && from != 0) {
            throw new BadRequestException("after (the last id of the previous page) or first, not both");
        }
        int size = max == null ? 100 : max;
        if (from < 0 || size < 1 || size > MAX_PAGE) {
            throw new BadRequestException("first >= 0 and 1 <= max <= " + MAX_PAGE);
        }
        boolean onePartner = partner != null && !partner.isEmpty();
        EntityManager em = session.getProvider(JpaConnectionProvider.class).getEntityManager();
        if ("groups".equals(kind)) {
            // type 0: realm groups (an organisation's own internal group, type 1, carries its attributes too)
            String marked = " and g.type = 0 and" + carries("g.id", keyed) + (keyed ? " and g.id > :after" : "")
                    + " order by g.id";
            if (!onePartner) {
                return groups(em, realm, page(em.createQuery("select g.id from GroupEntity g where g.realm = :realm"
                        + marked, String.class), realm, after, from, size));
            }
            // one partner's groups, found from its attribute, and the marked top-level groups (the roots its groups
            // hang from: a plan creating its first group needs the root's id, which cost a request of its own)
            List<String> ids = native_(em, "select g.ID from GROUP_ATTRIBUTE b join KEYCLOAK_GROUP g on g.ID = b.GROUP_ID"
                    + " where" + PARTNER_ROW + " and g.REALM_ID = :realm and g.TYPE = 0 and" + MARKED_ROW.formatted("g.ID"),
                    realm, partner);
            // the roots named (top-level: PARENT_GROUP is ' ' since Keycloak 23), by the (realm, parent, name) index:
            // by parent alone PostgreSQL scanned the table (every organisation's own group is top-level too)
            if (roots != null && !roots.isEmpty()) {
                ids.addAll(native_(em, "select g.ID from KEYCLOAK_GROUP g where g.REALM_ID = :realm"
                        + " and g.PARENT_GROUP = ' ' and g.NAME in (:roots) and g.TYPE = 0 and"
                        + MARKED_ROW.formatted("g.ID"), realm, roots.subList(0, Math.min(roots.size(), 10))));
            }
            return groups(em, realm, window(ids, after, from, size));
        }
        if ("users".equals(kind)) {
            if (usernames != null && usernames.size() > MAX_ACCOUNTS) {
                throw new BadRequestException("at most " + MAX_ACCOUNTS + " username parameters");
            }
            return users(em, realm, after, from, size, onePartner ? partner : null, usernames);
        }
        if ("organizations".equals(kind)) {
            // an organisation keeps its attributes and members on its own internal group
            String columns = "select o.id, o.alias, o.groupId, o.name from OrganizationEntity o";
            List<Object[]> orgs;
            if (onePartner) {  // found from the partner's attribute on the organisation's own group
                List<String> ids = window(native_(em, "select o.ID from GROUP_ATTRIBUTE b join ORG o"
                        + " on o.GROUP_ID = b.GROUP_ID where" + PARTNER_ROW + " and o.REALM_ID = :realm and"
                        + MARKED_ROW.formatted("o.GROUP_ID"), realm, partner), after, from, size);
                orgs = ids.isEmpty() ? List.of() : inOrder(em.createQuery(columns + " where o.id in :ids",
                        Object[].class).setParameter("ids", ids).getResultList());
            } else {
                orgs = page(em.createQuery(columns + " where o.realmId = :realm and" + carries("o.groupId", false)
                        + (keyed ? " and o.id > :after" : "") + " order by o.id", Object[].class),
                        realm, after, from, size);
            }
            List<String> groupIds = new ArrayList<>();
            for (Object[] o : orgs) {
                groupIds.add((String) o[2]);
            }
            Map<String, List<Map<String, String>>> members = members(em, groupIds);
            Map<String, Map<String, List<String>>> attributes = groupAttributes(em, groupIds);
            List<Map<String, Object>> out = new ArrayList<>();
            for (Object[] o : orgs) {
                Map<String, Object> e = entry((String) o[0], "alias", (String) o[1], members.get((String) o[2]));
                e.put("name", o[3]);  // name and attributes: the admin API's listing is not needed beside this
                e.put("attributes", attributes.getOrDefault((String) o[2], Map.of()));
                out.add(e);
            }
            return out;
        }
        throw new BadRequestException("kind: users, groups or organizations");
    }

    /**
     * A group (an id expression) carrying our marker: tested row by
     * row, so the database walks the page's own table by its primary key from `after`. When the group is the page's
     * key (`bounded`), its attributes are read from `after` on too: PostgreSQL does not carry the bound across the
     * semi-join and walked the whole attribute index at each page. Before both: a join ordered by the attribute's
     * group id, 200–400 ms a page at 450,000 groups (auto_explain, benchmarks/bench_branch.py).
     */
    private static String carries(String group, boolean bounded) {
        return " exists (select a from GroupAttributeEntity a where a.group.id = " + group
                + (bounded ? " and a.group.id > :after" : "") + " and a.name = :marker and a.value = :managed)";
    }

    /**
     * The state of these accounts (at most MAX_ACCOUNTS usernames, repeated `username`), for a list of people:
     * enabled, the usage rules' acceptance, a provisional password still to replace, a brute-force lockout still
     * running — two queries and the login-failure store, where the admin API takes three requests a person.
     */
    @GET
    @Path("accounts")
    @Produces(MediaType.APPLICATION_JSON)
    public List<Map<String, Object>> accounts(@QueryParam("username") List<String> usernames) {
        RealmModel realm = authorize();
        if (usernames == null || usernames.isEmpty() || usernames.size() > MAX_ACCOUNTS) {
            throw new BadRequestException("1 to " + MAX_ACCOUNTS + " username parameters");
        }
        EntityManager em = session.getProvider(JpaConnectionProvider.class).getEntityManager();
        List<Object[]> rows = em.createQuery("select u.id, u.username, u.enabled from UserEntity u"
                + " where u.realmId = :realm and u.username in :names", Object[].class)
                .setParameter("realm", realm.getId()).setParameter("names", usernames).getResultList();
        List<String> ids = new ArrayList<>();
        for (Object[] r : rows) {
            ids.add((String) r[0]);
        }
        Map<String, String> terms = new HashMap<>();
        Map<String, Boolean> provisional = new HashMap<>();
        if (!ids.isEmpty()) {
            for (Object[] a : em.createQuery("select a.user.id, a.value from UserAttributeEntity a"
                    + " where a.user.id in :ids and a.name = :terms", Object[].class).setParameter("ids", ids)
                    .setParameter("terms", TERMS_ATTR).getResultList()) {
                terms.put((String) a[0], (String) a[1]);
            }
            for (Object[] a : em.createQuery("select r.user.id, r.action from UserRequiredActionEntity r"
                    + " where r.user.id in :ids and r.action = :action", Object[].class).setParameter("ids", ids)
                    .setParameter("action", "UPDATE_PASSWORD").getResultList()) {
                provisional.put((String) a[0], Boolean.TRUE);
            }
        }
        long now = System.currentTimeMillis() / 1000;
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object[] r : rows) {
            String id = (String) r[0];
            Map<String, Object> u = new LinkedHashMap<>();
            u.put("id", id);
            u.put("username", r[1]);
            u.put("enabled", r[2]);
            u.put("termsAcceptedAt", terms.get(id));
            u.put("passwordChangePending", provisional.getOrDefault(id, Boolean.FALSE));
            UserLoginFailureModel failure = session.loginFailures().getUserLoginFailure(realm, id);
            long notBefore = failure == null ? 0 : failure.getFailedLoginNotBefore();
            u.put("lockedUntil", notBefore > now ? notBefore : null);
            out.add(u);
        }
        return out;
    }

    /**
     * The page's groups from Keycloak's tables in a few queries, whatever their number: their members, their
     * attributes, their role mappings, and their names and parents up to the root (paths are built from
     * those), so a realm larger than Keycloak's caches costs no query per group.
     */
    private List<Map<String, Object>> groups(EntityManager em, RealmModel realm, List<String> ids) {
        if (ids.isEmpty()) {
            return List.of();
        }
        // names and parents of these groups and of their ancestors, a level at a time (our trees are 3 deep)
        Map<String, String[]> tree = new HashMap<>();
        List<String> wanted = ids;
        for (int depth = 0; !wanted.isEmpty() && depth < 100; depth++) {
            List<String> parents = new ArrayList<>();
            for (Object[] r : em.createQuery("select g.id, g.name, g.parentId from GroupEntity g where g.id in :ids",
                    Object[].class).setParameter("ids", wanted).getResultList()) {
                tree.put((String) r[0], new String[] {(String) r[1], (String) r[2]});
                if (r[2] != null && !tree.containsKey((String) r[2]) && !parents.contains((String) r[2])) {
                    parents.add((String) r[2]);
                }
            }
            wanted = parents;
        }
        Map<String, Map<String, List<String>>> attributes = groupAttributes(em, ids);
        Map<String, List<String>> roleIds = new HashMap<>();
        for (Object[] r : em.createQuery("select m.group.id, m.roleId from GroupRoleMappingEntity m"
                + " where m.group.id in :ids", Object[].class).setParameter("ids", ids).getResultList()) {
            roleIds.computeIfAbsent((String) r[0], k -> new ArrayList<>()).add((String) r[1]);
        }
        Map<String, List<Map<String, String>>> members = members(em, ids);
        Map<String, RoleModel> roles = new HashMap<>();  // a handful of distinct roles, from the realm cache
        boolean escape = KeycloakModelUtils.escapeSlashesInGroupPath(session);
        List<Map<String, Object>> out = new ArrayList<>();
        for (String id : ids) {
            Map<String, Object> e = entry(id, "path", path(tree, id, escape), members.get(id));
            e.put("attributes", attributes.getOrDefault(id, Map.of()));
            putRoles(e, roleIds.getOrDefault(id, List.of()), realm, roles);
            out.add(e);
        }
        return out;
    }

    /**
     * Every user of the realm (service accounts aside), a page at a time in a stable order, with their
     * attributes: two queries a page. The admin API's full representation costs Keycloak about 20 ms a user
     * on PostgreSQL (user profile, attributes, actions read one user at a time). With `partner`: that partner's
     * people (its attribute) and the `username`s named (someone new, not yet marked), each with the roles held
     * directly (not through a group) — what a plan of one partner reads, in one request instead of eleven.
     */
    private List<Map<String, Object>> users(EntityManager em, RealmModel realm, String after, int from, int size,
                                            String partner, List<String> usernames) {
        boolean keyed = after != null && !after.isEmpty();
        String columns = "select u.id, u.username, u.firstName, u.lastName, u.email, u.enabled from UserEntity u";
        List<Object[]> rows;
        if (partner != null) {  // the partner's people from its attribute, and the people named
            // no order nor limit in SQL for one partner's rows (here and in PARTNER_ROW's statements): with them
            // PostgreSQL walked a whole table in id order hoping to meet the few rows early; `window` pages them
            List<String> found = new ArrayList<>(em.createQuery("select u.id from UserAttributeEntity a"
                    + " join a.user u where a.name = :partnerAttr and a.value = :partner and u.realmId = :realm"
                    + " and u.serviceAccountClientLink is null", String.class).setParameter("partnerAttr", PARTNER_ATTR)
                    .setParameter("partner", partner).setParameter("realm", realm.getId()).getResultList());
            if (usernames != null && !usernames.isEmpty()) {
                found.addAll(em.createQuery("select u.id from UserEntity u where u.realmId = :realm"
                        + " and u.username in :names and u.serviceAccountClientLink is null", String.class)
                        .setParameter("realm", realm.getId()).setParameter("names", usernames).getResultList());
            }
            List<String> ids = window(found, after, from, size);
            rows = ids.isEmpty() ? List.of() : inOrder(em.createQuery(columns + " where u.id in :ids",
                    Object[].class).setParameter("ids", ids).getResultList());
        } else {
            TypedQuery<Object[]> query = em.createQuery(columns + " where u.realmId = :realm"
                    + " and u.serviceAccountClientLink is null" + (keyed ? " and u.id > :after" : "") + " order by u.id",
                    Object[].class).setParameter("realm", realm.getId());
            if (keyed) {
                query.setParameter("after", after);
            }
            rows = query.setFirstResult(from).setMaxResults(size).getResultList();
        }
        List<String> ids = new ArrayList<>();
        for (Object[] r : rows) {
            ids.add((String) r[0]);
        }
        Map<String, Map<String, List<String>>> attributes = new HashMap<>();
        Map<String, List<String>> roleIds = new HashMap<>();
        if (!ids.isEmpty()) {
            for (Object[] a : em.createQuery("select a.user.id, a.name, a.value, a.longValue from UserAttributeEntity a"
                    + " where a.user.id in :ids", Object[].class).setParameter("ids", ids).getResultList()) {
                attributes.computeIfAbsent((String) a[0], k -> new TreeMap<>())
                        .computeIfAbsent((String) a[1], k -> new ArrayList<>()).add(a[3] != null ? (String) a[3] : (String) a[2]);
            }
            if (partner != null) {
                for (Object[] m : em.createQuery("select m.user.id, m.roleId from UserRoleMappingEntity m"
                        + " where m.user.id in :ids", Object[].class).setParameter("ids", ids).getResultList()) {
                    roleIds.computeIfAbsent((String) m[0], k -> new ArrayList<>()).add((String) m[1]);
                }
            }
        }
        Map<String, RoleModel> roles = new HashMap<>();
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object[] r : rows) {
            Map<String, Object> u = new LinkedHashMap<>();
            u.put("id", r[0]);
            u.put("username", r[1]);
            u.put("firstName", r[2]);
            u.put("lastName", r[3]);
            u.put("email", r[4]);
            u.put("enabled", r[5]);
            u.put("attributes", attributes.getOrDefault((String) r[0], Map.of()));
            if (partner != null) {
                putRoles(u, roleIds.getOrDefault((String) r[0], List.of()), realm, roles);
            }
            out.add(u);
        }
        return out;
    }

    /** `realmRoles` and `clientRoles` (by clientId) of these role ids, read from the realm cache. */
    private void putRoles(Map<String, Object> e, List<String> ids, RealmModel realm, Map<String, RoleModel> roles) {
        List<String> realmRoles = new ArrayList<>();
        Map<String, List<String>> clientRoles = new TreeMap<>();
        for (String roleId : ids) {
            RoleModel r = roles.computeIfAbsent(roleId, k -> session.roles().getRoleById(realm, k));
            if (r == null) {
                continue;
            }
            if (r.isClientRole()) {
                clientRoles.computeIfAbsent(((ClientModel) r.getContainer()).getClientId(), k -> new ArrayList<>())
                        .add(r.getName());
            } else {
                realmRoles.add(r.getName());
            }
        }
        e.put("realmRoles", realmRoles);
        e.put("clientRoles", clientRoles);
    }

    private static String path(Map<String, String[]> tree, String id, boolean escape) {
        List<String> names = new ArrayList<>();
        for (String at = id; at != null && tree.containsKey(at) && names.size() < 100; at = tree.get(at)[1]) {
            names.add(0, tree.get(at)[0]);
        }
        return KeycloakModelUtils.buildGroupPath(escape, names.toArray(new String[0]));
    }

    private static <T> List<T> page(TypedQuery<T> query, RealmModel realm, String after, int from, int size) {
        query.setParameter("realm", realm.getId()).setParameter("marker", MARKER_ATTR).setParameter("managed", MARKER);
        if (after != null && !after.isEmpty()) {
            query.setParameter("after", after);
        }
        return query.setFirstResult(from).setMaxResults(size).getResultList();
    }

    /**
     * A group attribute row holding the partner's SIRET, in the form Keycloak's own index on PostgreSQL is built
     * on — (NAME, VALUE cast to varchar(250)): compared as stored, the value could not use it and PostgreSQL read
     * every `partner` row of the realm (500,000 at branch size, 60–135 ms; auto_explain). Plain SQL: JPQL has no
     * such cast.
     */
    static final String PARTNER_ROW = " b.NAME = :partnerAttr and cast(b.VALUE as varchar(250)) = :partner"
            + " and b.VALUE = :partner";
    /** The group (an id column) carries our marker. */
    static final String MARKED_ROW = " exists (select 1 from GROUP_ATTRIBUTE m where m.GROUP_ID = %s"
            + " and m.NAME = :marker and m.VALUE = :managed)";

    @SuppressWarnings("unchecked")
    private static List<String> native_(EntityManager em, String sql, RealmModel realm, Object partner) {
        jakarta.persistence.Query query = em.createNativeQuery(sql);
        // `partner`: the SIRET, or the roots' names for a statement naming :roots
        Map<String, Object> values = Map.of("realm", realm.getId(), "marker", MARKER_ATTR, "managed", MARKER,
                "partnerAttr", PARTNER_ATTR, "partner", partner, "roots", partner);
        for (Parameter<?> p : query.getParameters()) {  // those this statement names
            query.setParameter(p.getName(), values.get(p.getName()));
        }
        return new ArrayList<>((List<String>) query.getResultList());
    }

    /** Rows in the order of their ids as `window` cut them (the next page starts after the last one). */
    private static List<Object[]> inOrder(List<Object[]> rows) {
        List<Object[]> out = new ArrayList<>(rows);
        out.sort((a, b) -> ((String) a[0]).compareTo((String) b[0]));
        return out;
    }

    /** The page of these ids (sorted, distinct) after `after`, or from `from`: what an ordered, limited query gives. */
    private static List<String> window(List<String> ids, String after, int from, int size) {
        TreeSet<String> sorted = new TreeSet<>(ids);
        List<String> rest = new ArrayList<>(after == null || after.isEmpty() ? sorted : sorted.tailSet(after, false));
        return rest.subList(Math.min(from, rest.size()), Math.min(from + size, rest.size()));
    }

    private static Map<String, Map<String, List<String>>> groupAttributes(EntityManager em, List<String> ids) {
        Map<String, Map<String, List<String>>> attributes = new HashMap<>();
        if (ids.isEmpty()) {
            return attributes;
        }
        for (Object[] r : em.createQuery("select a.group.id, a.name, a.value from GroupAttributeEntity a"
                + " where a.group.id in :ids", Object[].class).setParameter("ids", ids).getResultList()) {
            attributes.computeIfAbsent((String) r[0], k -> new TreeMap<>())
                    .computeIfAbsent((String) r[1], k -> new ArrayList<>()).add((String) r[2]);
        }
        return attributes;
    }

    /** Every member of these groups, in one query (the admin API would take one request per group). */
    private static Map<String, List<Map<String, String>>> members(EntityManager em, List<String> groupIds) {
        Map<String, List<Map<String, String>>> out = new HashMap<>();
        if (groupIds.isEmpty()) {
            return out;
        }
        List<Object[]> rows = em.createQuery("select m.groupId, u.id, u.username from UserGroupMembershipEntity m"
                + " join m.user u where m.groupId in :ids", Object[].class).setParameter("ids", groupIds).getResultList();
        for (Object[] r : rows) {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("id", (String) r[1]);
            m.put("username", (String) r[2]);
            out.computeIfAbsent((String) r[0], k -> new ArrayList<>()).add(m);
        }
        return out;
    }

    private static Map<String, Object> entry(String id, String nameKey, String name, List<Map<String, String>> members) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put(nameKey, name);
        out.put("members", members == null ? List.of() : members);
        return out;
    }

    private RealmModel authorize() {
        RealmModel realm = session.getContext().getRealm();
        AuthResult auth = new AppAuthManager.BearerTokenAuthenticator(session).setRealm(realm).authenticate();
        if (auth == null) {
            throw new NotAuthorizedException("Bearer");
        }
        UserModel user = auth.getUser();
        ClientModel client = auth.getClient();
        if (client == null || !allowedClientId.equals(client.getClientId()) || user.getServiceAccountClientLink() == null
                || !client.getId().equals(user.getServiceAccountClientLink())) {
            throw new ForbiddenException("only the provisioning service account");
        }
        ClientModel realmManagement = realm.getClientByClientId("realm-management");
        RoleModel viewUsers = realmManagement == null ? null : realmManagement.getRole("view-users");
        if (viewUsers == null || !user.hasRole(viewUsers)) {
            throw new ForbiddenException("view-users required");
        }
        return realm;
    }
}
