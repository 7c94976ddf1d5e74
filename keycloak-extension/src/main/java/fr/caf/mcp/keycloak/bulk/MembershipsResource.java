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
import jakarta.persistence.TypedQuery;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.keycloak.connections.jpa.JpaConnectionProvider;
import org.keycloak.models.ClientModel;
import org.keycloak.models.GroupModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.RoleModel;
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
 * Allowed only to the provisioning client's service account, and only while it holds realm-management's
 * view-users role: the same right the admin API asks for the same data.
 */
public class MembershipsResource {

    static final String MARKER_ATTR = "mcp.managed-by";
    static final String MARKER = "mon-compte-partenaire";
    static final String PARTNER_ATTR = "partner";
    static final int MAX_PAGE = 1000;

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
                                                 @QueryParam("max") Integer max, @QueryParam("partner") String partner) {
        RealmModel realm = authorize();
        int from = first == null ? 0 : first;
        int size = max == null ? 100 : max;
        if (from < 0 || size < 1 || size > MAX_PAGE) {
            throw new BadRequestException("first >= 0 and 1 <= max <= " + MAX_PAGE);
        }
        boolean onePartner = partner != null && !partner.isEmpty();
        EntityManager em = session.getProvider(JpaConnectionProvider.class).getEntityManager();
        // ids of the groups carrying our marker (and the partner's attribute), in a stable order, one page
        String marked = "select a.group.id from GroupAttributeEntity a where a.group.realm = :realm"
                + " and a.name = :marker and a.value = :managed"
                + (onePartner ? " and exists (select b from GroupAttributeEntity b where b.group = a.group"
                        + " and b.name = :partnerAttr and b.value = :partner)" : "");
        if ("groups".equals(kind)) {
            // type 0: realm groups (an organisation's own internal group, type 1, carries its attributes too)
            List<String> ids = page(em.createQuery(marked + " and a.group.type = 0 order by a.group.id", String.class),
                    realm, partner, from, size);
            Map<String, List<Map<String, String>>> members = members(em, ids);
            List<Map<String, Object>> out = new ArrayList<>();
            for (String id : ids) {
                GroupModel g = session.groups().getGroupById(realm, id);
                if (g != null) {
                    Map<String, Object> e = entry(id, "path", KeycloakModelUtils.buildGroupPath(g), members.get(id));
                    e.put("attributes", g.getAttributes());
                    List<String> realmRoles = new ArrayList<>();
                    Map<String, List<String>> clientRoles = new TreeMap<>();
                    g.getRoleMappingsStream().forEach(r -> {
                        if (r.isClientRole()) {
                            clientRoles.computeIfAbsent(((ClientModel) r.getContainer()).getClientId(),
                                    k -> new ArrayList<>()).add(r.getName());
                        } else {
                            realmRoles.add(r.getName());
                        }
                    });
                    e.put("realmRoles", realmRoles);
                    e.put("clientRoles", clientRoles);
                    out.add(e);
                }
            }
            return out;
        }
        if ("organizations".equals(kind)) {
            // an organisation keeps its attributes and members on its own internal group
            List<Object[]> orgs = page(em.createQuery("select o.id, o.alias, o.groupId from OrganizationEntity o"
                    + " where o.realmId = :realm and o.groupId in (" + marked + ") order by o.id", Object[].class),
                    realm, partner, from, size);
            List<String> groupIds = new ArrayList<>();
            for (Object[] o : orgs) {
                groupIds.add((String) o[2]);
            }
            Map<String, List<Map<String, String>>> members = members(em, groupIds);
            List<Map<String, Object>> out = new ArrayList<>();
            for (Object[] o : orgs) {
                out.add(entry((String) o[0], "alias", (String) o[1], members.get((String) o[2])));
            }
            return out;
        }
        throw new BadRequestException("kind: groups or organizations");
    }

    private static <T> List<T> page(TypedQuery<T> query, RealmModel realm, String partner, int from, int size) {
        query.setParameter("realm", realm.getId()).setParameter("marker", MARKER_ATTR).setParameter("managed", MARKER);
        if (partner != null && !partner.isEmpty()) {
            query.setParameter("partnerAttr", PARTNER_ATTR).setParameter("partner", partner);
        }
        return query.setFirstResult(from).setMaxResults(size).getResultList();
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
